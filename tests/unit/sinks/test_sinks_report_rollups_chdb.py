"""The report queries over rollups on chdb (migration 0019, docs/bi/rollups.md "Report
queries"): the overdue list, the recurring places and the surge answer as the Python
reference, and the same, whether the months they read are stale (raw rows), fresh
(rollup rows) or some of each, across a replay, new case versions and refreshes between,
for periods on both sides of a month boundary and a week across two months."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import numpy as np
import pytest

from sinks.kpi.meetings import MEETINGS, period_of
from sinks.kpi.sections import ReportData, section_data
from sinks.rollups import refresh, refresh_all
from sinks.sql import ChdbExecutor
from sinks.synthetic import Dataset, generate
from tests.report_figures import assert_report_matches

TZ = "Asia/Shanghai"
Insert = Callable[[str, str, Mapping[str, Any]], None]
Tables = Mapping[str, Mapping[str, Any]]
SECTIONS = ("overdue", "chronic", "surge")
# 2023-07-25 .. 2023-08-15 (local): July's and August's month partitions both hold cases
# and escalations; the week of 31 July is in both
START_MS = 1_690_243_200_000
PERIODS = (
    ("weekly", date(2023, 7, 31)),  # Mon 31 July to Sun 6 August
    ("monthly", date(2023, 7, 26)),
    ("monthly", date(2023, 8, 3)),
)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(400, seed=15, start_ms=START_MS, days=21)


def _load(insert: Insert, db: str, tables: Tables) -> None:
    for table, columns in tables.items():
        insert(db, table, columns)


def _sections(ex: ChdbExecutor, db: str, tables: Tables, now_s: int) -> list[Any]:
    """The three sections of every period, each checked against the reference."""
    out = []
    for meeting, day in PERIODS:
        period = period_of(MEETINGS[meeting], day)
        asof_s = min(now_s, period.bounds_s(TZ)[1])
        data = ReportData(period, asof_s)
        for key in SECTIONS:
            data.sections[key] = section_data(ex, db, TZ, period, key, now_s)
        assert assert_report_matches(data, tables, TZ, now_s * 1000) == list(SECTIONS)
        out.append(data.sections)
    return out


def _stale(ex: ChdbExecutor, db: str, family: str) -> list[int]:
    rows = ex.query(f"SELECT month FROM {db}.rollup_stale WHERE family = '{family}'")
    return sorted(int(r["month"]) for r in rows)


def _rows_in_month(tables: Tables, table: str, column: str, month: str) -> dict[str, Any]:
    times = np.asarray(tables[table][column])
    months = np.asarray([time.strftime("%Y%m", time.gmtime(ms / 1000)) for ms in times])
    rows = np.flatnonzero(months == month)
    assert rows.size, f"no {table} rows in {month}"
    return {k: np.asarray(v)[rows] for k, v in tables[table].items()}


def test_report_sections_stale_fresh_and_replayed_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    ex, db = chdb_executor, migrated_db
    tables = dataset.tables
    _load(insert, db, tables)
    now_s = int(time.time())
    assert _stale(ex, db, "escalations") == [202307, 202308]
    live = _sections(ex, db, tables, now_s)  # every month from the raw rows
    assert any(s["overdue"]["cases"] for s in live) and any(s["surge"]["surge_hours"] for s in live)

    assert refresh(ex, db, "escalations").months == (202307, 202308)
    assert _sections(ex, db, tables, now_s) == live  # escalations fresh, cases stale
    refresh_all(ex, db)
    assert _stale(ex, db, "escalations") == [] and _stale(ex, db, "facts") == []
    assert _sections(ex, db, tables, now_s) == live  # every month from the rollups

    # the sink redelivers August's escalations and July's cases: those months are stale,
    # the others fresh, and nothing counts twice
    insert(db, "escalations", _rows_in_month(tables, "escalations", "escalated_at", "202308"))
    insert(db, "cases", _rows_in_month(tables, "cases", "opened_at", "202307"))
    assert _stale(ex, db, "escalations") == [202308] and _stale(ex, db, "facts") == [202307]
    assert _sections(ex, db, tables, now_s) == live
    refresh_all(ex, db)
    assert _sections(ex, db, tables, now_s) == live


def test_new_case_versions_after_a_refresh_change_the_sections_as_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    ex, db = chdb_executor, migrated_db
    _load(insert, db, dataset.tables)
    refresh_all(ex, db)
    now_s = int(time.time())
    before = _sections(ex, db, dataset.tables, now_s)
    cases = dataset.tables["cases"]
    # newer versions of the last 40 case rows (late July and August), voided
    voided = {k: np.asarray(v)[-40:].copy() for k, v in cases.items()}
    voided["version"] = voided["version"].astype(np.uint64) + np.uint64(1 << 40)
    voided["status"][:] = "voided"
    voided["voided_at"] = voided["opened_at"] + 60_000
    insert(db, "cases", voided)
    tables = {
        **dataset.tables,
        "cases": {k: np.concatenate([np.asarray(cases[k]), voided[k]]) for k in cases},
    }
    stale = _sections(ex, db, tables, now_s)  # the voided cases' months live
    assert stale != before
    refresh_all(ex, db)
    assert _sections(ex, db, tables, now_s) == stale


def test_the_overdue_list_reads_fresh_escalations_from_the_rollup(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    """A row planted in the current generation of rollup_level_rows raises a listed case's
    level: a fresh month's escalations are read from the rollup, not the raw rows. The
    escalations family's refresh stores and replaces both of its tables."""
    ex, db = chdb_executor, migrated_db
    _load(insert, db, dataset.tables)
    result = refresh(ex, db, "escalations")
    period = period_of(MEETINGS["weekly"], date(2023, 7, 31))
    now_s = int(time.time())
    cases = section_data(ex, db, TZ, period, "overdue", now_s)["cases"]
    target = next(r for r in cases if r["top_level"] != "district_leader")
    from_s = period.bounds_s(TZ)[0]
    month = int(time.strftime("%Y%m", time.gmtime(from_s + 3 * 86_400)))
    ex.execute(
        f"INSERT INTO {db}.rollup_level_rows (month, generation, case_id, level, escalated_at) "
        f"SELECT toUInt32({month}), toUInt64({result.generation}), "
        f"toUInt64({target['case_id']}), 'district_leader', toDateTime({from_s + 3 * 86_400})"
    )
    planted = section_data(ex, db, TZ, period, "overdue", now_s)["cases"]
    assert {r["case_id"]: r["top_level"] for r in planted}[target["case_id"]] == "district_leader"

    august = _rows_in_month(dataset.tables, "escalations", "escalated_at", "202308")
    insert(db, "escalations", august)
    second = refresh(ex, db, "escalations")
    assert second.months == (202308,) and second.dropped == 2  # August's old rows, both tables
    assert section_data(ex, db, TZ, period, "overdue", now_s)["cases"] == cases
