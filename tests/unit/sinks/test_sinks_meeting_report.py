"""Meeting reports on chdb: the periods, the placeholders, every section's figures against
the Python reference (a synthetic month with a surge hour, cases without a grid code and
dead letters added), and the page: self-contained, Chinese first, every section there."""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sinks.kpi import queries
from sinks.kpi.meeting_html import meeting_html
from sinks.kpi.meetings import MEETINGS, SECTIONS, period_of
from sinks.kpi.queries import load_query
from sinks.kpi.sections import ReportData, judged_at, latest_case_day, report_data, section_data
from sinks.sql import ChdbExecutor, SqlError
from streams.cli.report import OVERDUE_CSV_COLUMNS, add_arguments, write_overdue_csv
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from streams.settings import load_settings
from tests.report_figures import assert_report_matches
from tests.report_store import BURST, report_tables

TZ = "Asia/Shanghai"
Insert = Callable[[str, str, Mapping[str, Any]], None]


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, Any]]:
    return report_tables()


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


def test_comment_lines_are_left_out_of_a_query() -> None:
    """overdue.sql names its placeholders in its comments: filled in, they carried the
    whole level expression into the server's query log."""
    sql = load_query(
        "overdue",
        database="d",
        tz=TZ,
        from_s=1,
        to_s=2,
        asof_s=2,
        levels=("a", "b"),
        rows=5,
        min_rank=0,
        level_rank=queries._Expression("9"),
        level_join=queries._Expression(""),
    )
    assert sql.startswith("SELECT") and "--" not in sql
    assert "toInt16(9) AS level_rank" in sql


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


def test_the_overdue_list_names_its_first_cases_and_counts_all(
    chdb_executor: ChdbExecutor, loaded: str, tables: dict[str, dict[str, Any]]
) -> None:
    """A list longer than the meeting's overdue_rows: the report names the first rows in
    the list's order, and each department's count is still the whole list's."""
    meeting = replace(MEETINGS["weekly"], overdue_rows=3)
    now_s = int(time.time())
    data = report_data(chdb_executor, loaded, TZ, period_of(meeting, date(2023, 7, 19)), now_s)
    section = data.sections["overdue"]
    assert len(section["cases"]) == 3
    assert sum(r["cases"] for r in section["departments"]) > 3
    assert "overdue" in assert_report_matches(data, tables, TZ, now_s * 1000)


@pytest.mark.parametrize("release", [(18, 16, 1), None], ids=["sets-18.16", "join-chdb"])
@pytest.mark.parametrize("meeting", ["weekly", "monthly"])
def test_both_overdue_plans_give_the_reference_list(
    chdb_executor: ChdbExecutor,
    loaded: str,
    tables: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    release: tuple[int, ...] | None,
    meeting: str,
) -> None:
    """overdue.sql's two ways to a case's highest level (sinks.kpi.queries: a set of case
    ids per level on 18.16, the grouped escalations joined on a current release) list the
    reference's cases, for every level (weekly) and from department head up (monthly). The
    18.16 plan runs here in chdb by the release it is chosen for."""
    if release is not None:
        monkeypatch.setattr(queries, "server_version", lambda ex: release)
    shown = replace(MEETINGS[meeting], overdue_rows=5)
    now_s = int(time.time())
    for day in (date(2023, 7, 19), latest_case_day(chdb_executor, loaded, TZ)):
        period = period_of(shown, day)
        data = ReportData(period, judged_at(TZ, period, now_s))
        data.sections["overdue"] = section_data(chdb_executor, loaded, TZ, period, "overdue", now_s)
        assert data.sections["overdue"]["cases"]
        assert assert_report_matches(data, tables, TZ, now_s * 1000) == ["overdue"]


def test_the_whole_overdue_list_goes_to_csv(
    chdb_executor: ChdbExecutor, loaded: str, tmp_path: Path
) -> None:
    """``citystream report --overdue-csv``: every case of the list, in the report's order,
    the report's first cases first; UTF-8 with a byte-order mark for spreadsheets."""
    settings = load_settings(env={})
    period = period_of(MEETINGS["weekly"], date(2023, 7, 19))
    now_s = int(time.time())
    out = tmp_path / "overdue.csv"
    written = write_overdue_csv(chdb_executor, settings, loaded, period, out, now_s)
    data = report_data(chdb_executor, loaded, TZ, period, now_s)
    section = data.sections["overdue"]
    assert written == sum(r["cases"] for r in section["departments"]) > 0
    raw = out.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == written and tuple(rows[0]) == OVERDUE_CSV_COLUMNS
    named = [str(r["case_id"]) for r in section["cases"]]
    assert [r["case_id"] for r in rows[: len(named)]] == named
    assert {r["state"] for r in rows} <= {"handled", "unhandled"}


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
        assert re.search(r'<td style="background:#[0-9a-f]{6}">[A-E]</td>', page)  # grades
        assert "无网格编码" in page  # the cases without a grid code, apart from the ranking
    # a week without a surge has no surge section
    quiet = report_data(
        chdb_executor, loaded, TZ, period_of(MEETINGS["weekly"], date(2023, 7, 5)), int(time.time())
    )
    assert not quiet.surge_happened
    assert 'id="sec-surge"' not in meeting_html(quiet, network, TZ)


def test_the_monthly_report_shows_the_campaign_of_its_month(
    chdb_executor: ChdbExecutor, loaded: str, tables: dict[str, dict[str, Any]]
) -> None:
    now_s = int(time.time())
    july = period_of(MEETINGS["monthly"], date(2023, 7, 19))
    data = report_data(chdb_executor, loaded, TZ, july, now_s)
    assert "campaign" in assert_report_matches(data, tables, TZ, now_s * 1000)
    (row,) = data.sections["campaign"]
    assert row["campaign_id"] == "2023-07-test" and row["found"] > 0 and row["fixed"] > 0
    august = period_of(MEETINGS["monthly"], date(2023, 8, 19))
    assert report_data(chdb_executor, loaded, TZ, august, now_s).sections["campaign"] == []
