"""Meeting reports on chdb: the periods, the placeholders, every section's figures against
the Python reference (a synthetic month with a surge hour, cases without a grid code and
dead letters added), and the page: self-contained, Chinese first, every section there."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import numpy as np
import pytest

from sinks.kpi.meeting_html import meeting_html
from sinks.kpi.meetings import MEETINGS, SECTIONS, period_of
from sinks.kpi.queries import load_query
from sinks.kpi.sections import latest_case_day, report_data
from sinks.records import dead_letter_row
from sinks.sql import ChdbExecutor, SqlError
from sinks.synthetic import generate
from streams.cli.report import add_arguments
from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from tests.report_figures import assert_report_matches

TZ = "Asia/Shanghai"
H = 3_600_000
BURST = 1_689_732_000_000  # 2023-07-19 10:00 +08:00: the surge hour
Insert = Callable[[str, str, Mapping[str, Any]], None]


def _extra_case(case_id: int, opened: int, closed: int, grid: str) -> dict[str, Any]:
    return {
        "case_id": case_id, "version": 9 << 32, "category_key": "E0102",
        "department": "sanitation", "grid_code": grid, "community": grid[:12],
        "street": grid[:9], "lat": 35.71, "lon": 114.27, "opened_at": opened,
        "dispatched_at": opened + H // 6, "deadline": opened + 4 * H,
        "signed_at": opened + H // 3, "handled_at": closed - H // 2 if closed else 0,
        "closed_at": closed, "voided_at": 0, "status": "closed" if closed else "signed",
        "rework_count": 0, "recurrence_of": 0, "n_events": 1, "urgent": 0,
        "fixed_on_spot": 0, "hold_s": 0,
    }  # fmt: skip


def _extra_cases() -> list[dict[str, Any]]:
    # 40 cases in one hour (a surge), closed over the next day; 3 without a grid code
    burst = [
        _extra_case(900_000 + i, BURST + i * 60_000, BURST + (2 + i // 2) * H, "410611002001001")
        for i in range(40)
    ]
    no_grid = [_extra_case(900_100 + i, BURST - 30 * H + i * H, 0, "") for i in range(3)]
    return burst + no_grid


def _dead_letters() -> dict[str, list[Any]]:
    rows = [
        dead_letter_row(
            DeadLetter("hotline", Reason(r.value), "bad", b"{", "raw.hotline", 0, i),
            received_at_ms=BURST + i * H,
        )
        for i, r in enumerate(list(Reason)[:3])
    ]
    return {k: [r[k] for r in rows] for k in rows[0]}


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, Any]]:
    data = generate(300, seed=20230719).tables
    extra = _extra_cases()
    cases = {k: list(np.asarray(v).tolist()) + [c[k] for c in extra] for k, v in
             data["cases"].items()}  # fmt: skip
    return {**data, "cases": cases, "dead_letters": _dead_letters()}


@pytest.fixture
def loaded(migrated_db: str, insert: Insert, tables: dict[str, dict[str, Any]]) -> str:
    for table, columns in tables.items():
        insert(migrated_db, table, columns)
    return migrated_db


def test_meeting_periods() -> None:
    weekly, half, monthly = (MEETINGS[m] for m in ("weekly", "half-monthly", "monthly"))
    p = period_of(weekly, date(2023, 8, 2))
    assert (p.start, p.end, p.days) == (date(2023, 7, 31), date(2023, 8, 6), 7)
    assert (period_of(half, date(2023, 8, 15)).start, period_of(half, date(2023, 8, 15)).end) == (
        date(2023, 8, 1),
        date(2023, 8, 15),
    )
    second = period_of(half, date(2024, 2, 16))
    assert (second.start, second.end) == (date(2024, 2, 16), date(2024, 2, 29))
    m = period_of(monthly, date(2023, 7, 31))
    assert (m.start, m.end) == (date(2023, 7, 1), date(2023, 7, 31))
    # local midnights: 2023-07-31 00:00 +08:00 is 2023-07-30 16:00 UTC
    assert p.bounds_s(TZ) == (1_690_732_800, 1_690_732_800 + 7 * 86_400)


def test_placeholders_are_validated() -> None:
    sql = load_query("league", database="d", tz=TZ, period="half_month", start=date(2023, 8, 1))
    assert "period = 'half_month'" in sql and "toDate('2023-08-01')" in sql
    with pytest.raises(SqlError):
        load_query("league", database="d", tz=TZ, period="week'; DROP", start=date(2023, 8, 1))
    with pytest.raises(SqlError):  # a placeholder left unfilled
        load_query("league", database="d", tz=TZ, period="week")
    with pytest.raises(SqlError):
        load_query("overdue", database="d", tz=TZ, from_s=1, to_s=2, asof_s=2, levels=("a b",))


def test_command_parses_its_options() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--meeting", "half-monthly", "--period", "2023-08-20", "--out", "r"])
    assert (args.meeting, args.period, str(args.out)) == ("half-monthly", date(2023, 8, 20), "r")
    with pytest.raises(SystemExit):
        parser.parse_args(["--meeting", "daily", "--out", "r"])


@pytest.mark.parametrize("meeting", sorted(MEETINGS))
def test_report_figures_equal_the_reference(
    chdb_executor: ChdbExecutor, loaded: str, tables: dict[str, dict[str, Any]], meeting: str
) -> None:
    now_s = int(time.time())
    day = latest_case_day(chdb_executor, loaded, TZ)
    for period in (
        period_of(MEETINGS[meeting], day),
        period_of(MEETINGS[meeting], date(2023, 7, 19)),
    ):
        data = report_data(chdb_executor, loaded, TZ, period, now_s)
        checked = assert_report_matches(data, tables, TZ, now_s * 1000)
        assert {"league", "streets", "trend", "overdue", "chronic", "hotspots"} <= set(checked)
        assert data.sections["league"] and data.sections["overdue"]["cases"]
    assert data.surge_happened  # the burst hour of 2023-07-19 is in every meeting's period
    surge = data.sections["surge"]
    # the burst hour is the first surge hour, and lifts the backlog by most of its 40 cases
    assert surge["first_surge"] == (BURST // 1000 - data.period.bounds_s(TZ)[0]) // 3600
    assert surge["peak_backlog"] >= surge["baseline"] + 30


def test_report_page_is_self_contained_and_bilingual(
    chdb_executor: ChdbExecutor, loaded: str
) -> None:
    network = StreetNetwork.for_district(District.load("qibin"))
    for name, meeting in MEETINGS.items():
        data = report_data(
            chdb_executor, loaded, TZ, period_of(meeting, date(2023, 7, 19)), int(time.time())
        )
        page = meeting_html(data, network, TZ)
        assert page.startswith("<!DOCTYPE html>") and "@media print" in page
        assert "<script" not in page and not re.search(r'(src|href)="?(http|//|file)', page)
        shown = re.findall(r'<section id="sec-([a-z]+)">', page)
        assert shown == [k for k, _, _ in SECTIONS if k in meeting.sections], name
        assert "立案 opened" in page and "综合指标值 composite" in page
        assert "无网格编码" in page  # the cases without a grid code, apart from the ranking
    # a week without a surge has no surge section
    quiet = report_data(
        chdb_executor, loaded, TZ, period_of(MEETINGS["weekly"], date(2023, 7, 5)), int(time.time())
    )
    assert not quiet.surge_happened
    assert 'id="sec-surge"' not in meeting_html(quiet, network, TZ)
