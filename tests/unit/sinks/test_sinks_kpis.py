"""Every KPI view on chdb equals the Python reference; replays change nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pytest

from sinks import reference
from sinks.kpi.queries import BI_VIEWS
from sinks.sql import ChdbExecutor
from sinks.synthetic import Dataset, generate
from tests.kpi_rows import assert_rows_equal, by_key

TZ = "Asia/Shanghai"
Insert = Callable[[str, str, Mapping[str, Any]], None]
RATES = [
    "closure_rate",
    "on_time_closure_rate",
    "on_time_dispatch_rate",
    "on_time_handling_rate",
    "rework_rate",
]
COUNTS = reference.KPI_COUNTS


def _load(insert: Insert, database: str, data: Dataset) -> None:
    for table, columns in data.tables.items():
        insert(database, table, columns)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(240, seed=20230731)


def _units(ex: ChdbExecutor, db: str) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    return by_key(ex.query(f"SELECT * FROM {db}.kpi_units"))


def test_case_kpis_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    _load(insert, migrated_db, dataset)
    now_ms = int(time.time() * 1000)
    expected = reference.case_unit_kpis(dataset.tables, TZ, now_ms)
    got = _units(chdb_executor, migrated_db)
    assert set(got) == set(expected)
    for key, want in expected.items():
        for name in COUNTS:
            assert got[key][name] == want[name], (key, name)
        for name in RATES:
            assert got[key][name] == pytest.approx(want[name]), (key, name)
    levels = {k[2] for k in got}
    assert levels == {"department", "grid", "community", "street", "district"}


def test_department_scores_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    _load(insert, migrated_db, dataset)
    units = reference.case_unit_kpis(dataset.tables, TZ, int(time.time() * 1000))
    expected = reference.department_scores(units)
    rows = chdb_executor.query(f"SELECT * FROM {migrated_db}.kpi_department_score")
    got = {(r["period"], r["period_start"], "department", r["department"]): r for r in rows}
    assert set(got) == set(expected)
    for key, want in expected.items():
        assert got[key]["volume_score"] == pytest.approx(want["volume_score"])
        assert got[key]["composite"] == pytest.approx(want["composite"])
        assert got[key]["grade"] == want["grade"]


def test_intake_durations_and_patrol_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    _load(insert, migrated_db, dataset)
    ex, db = chdb_executor, migrated_db
    assert_rows_equal(
        ex.query(f"SELECT * FROM {db}.kpi_intake"),
        reference.intake(dataset.tables, TZ),
        key=("period", "period_start", "source"),
    )
    assert_rows_equal(
        ex.query(f"SELECT * FROM {db}.kpi_durations"),
        reference.durations(dataset.tables, TZ),
        key=("period", "period_start", "department"),
    )
    rules = {
        r["role"]: r["min_days_per_week"]
        for r in ex.query(f"SELECT role, min_days_per_week FROM {db}.patrol_rules FINAL")
    }
    coverage = {
        (r["week_start"], r["inspector_id"], r["role"]): r
        for r in ex.query(f"SELECT * FROM {db}.kpi_patrol_coverage")
    }
    want_cov = reference.patrol_coverage(dataset.tables["patrol_visits"], rules, TZ)
    assert set(coverage) == set(want_cov)
    for key, want in want_cov.items():
        for name, value in want.items():
            assert coverage[key][name] == value, (key, name)


def test_verification_equals_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    _load(insert, migrated_db, dataset)
    expected = reference.verification(dataset.tables, TZ, int(time.time() * 1000))
    rows = chdb_executor.query(f"SELECT * FROM {migrated_db}.kpi_verification")
    got = assert_rows_equal(rows, expected)
    district = [r for k, r in got.items() if k[0] == "month" and k[2] == "district"]
    # the synthetic data has every kind of task: passed, failed, late and open past due
    assert sum(r["passed"] for r in district) and sum(r["failed"] for r in district)
    assert 0 < sum(r["verified_on_time"] for r in district) < sum(r["verified"] for r in district)
    assert sum(r["verified"] for r in district) < sum(r["due"] for r in district)


def test_escalations_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    _load(insert, migrated_db, dataset)
    expected = reference.escalations(dataset.tables, TZ)
    rows = chdb_executor.query(f"SELECT * FROM {migrated_db}.kpi_escalations")
    got = {(r["period"], r["period_start"], r["department"], r["level"]): r for r in rows}
    assert set(got) == set(expected)
    for key, want in expected.items():
        assert got[key]["escalations"] == want["escalations"], key
    # every level occurs, and re-sent escalations are counted once
    month = [k for k in got if k[0] == "month" and k[2] == ""]
    assert {k[3] for k in month} == {"remind", "supervise", "department_head", "district_leader"}
    ids = dataset.tables["escalations"]["escalation_id"]
    assert sum(got[k]["escalations"] for k in month) == len(set(ids)) < len(ids)


def test_the_demo_summary_reads_escalations_from_kpi_escalations(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    """``citystream demo``'s escalation lines: per month and department, then the district,
    the cases escalated at each level, as the Python KPI counts them."""
    from streams.cli.demo import _escalation_lines

    _load(insert, migrated_db, dataset)

    def q(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in chdb_executor.query(sql.format(db=migrated_db))]

    lines = _escalation_lines(q)
    want = reference.escalations(dataset.tables, TZ)
    levels = ("remind", "supervise", "department_head", "district_leader")
    expected = []
    for month, unit in sorted({(k[1], k[2]) for k in want if k[0] == "month"}):
        counts = [
            int(want.get(("month", month, unit, lv), {}).get("escalations", 0)) for lv in levels
        ]
        expected.append((str(month), unit or "district", counts))
    got = [
        (line.split()[0], line.split()[1], [int(n) for n in line.split()[2:]]) for line in lines[1:]
    ]
    assert sorted(got) == sorted(expected)
    assert got[-1][1] == "district" and len(got) > 2


def _all_views(ex: ChdbExecutor, db: str) -> dict[str, list]:
    views = [v for v in BI_VIEWS if v != "deadletter_daily"]
    return {
        v: sorted(map(repr, (sorted(r.items()) for r in ex.query(f"SELECT * FROM {db}.{v}"))))
        for v in views
    }


def test_inserting_everything_twice_changes_no_kpi(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    _load(insert, migrated_db, dataset)
    before = _all_views(chdb_executor, migrated_db)
    _load(insert, migrated_db, dataset)
    assert _all_views(chdb_executor, migrated_db) == before
    assert before["kpi_units"] and before["kpi_intake"]


# A hand-made week, 2023-07-31 (Mon) .. 2023-08-06, Asia/Shanghai (UTC+8) ------------------
H = 3_600_000
MON_9 = 1_690_765_200_000  # 2023-07-31 09:00 +08


def _case(case_id: int, **fields: Any) -> dict[str, Any]:
    row = {
        "case_id": case_id,
        "version": 5 << 32,
        "category_key": "E0102",
        "department": "sanitation",
        "grid_code": "410611001001001",
        "community": "410611001001",
        "street": "410611001",
        "lat": 35.7,
        "lon": 114.3,
        "opened_at": MON_9,
        "dispatched_at": MON_9 + H // 6,
        "deadline": MON_9 + 4 * H,
        "signed_at": 0,
        "handled_at": 0,
        "closed_at": 0,
        "voided_at": 0,
        "status": "dispatched",
        "rework_count": 0,
        "recurrence_of": 0,
        "n_events": 1,
        "urgent": 0,
        "fixed_on_spot": 0,
        "hold_s": 0,
    }
    row.update(fields)
    return row


def test_hand_made_week(chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert) -> None:
    cases = [
        # handled on time and closed
        _case(
            1,
            signed_at=MON_9 + H,
            handled_at=MON_9 + 2 * H,
            closed_at=MON_9 + 3 * H,
            status="closed",
        ),
        # handled late (after the 4 h deadline), reworked once, then closed
        _case(
            2,
            signed_at=MON_9 + H,
            handled_at=MON_9 + 6 * H,
            closed_at=MON_9 + 7 * H,
            status="closed",
            rework_count=1,
        ),
        # overdue, never handled
        _case(3, signed_at=MON_9 + H, status="signed"),
        # deadline far in the future: not due yet
        _case(4, deadline=4_000_000_000_000),
        # voided: counts nowhere
        _case(5, status="voided", voided_at=MON_9 + H),
    ]
    columns = {name: [c[name] for c in cases] for name in cases[0]}
    insert(migrated_db, "cases", columns)
    dispatches = {
        "case_id": [1, 2, 3, 4],
        "category_key": ["E0102"] * 4,
        "department": ["sanitation"] * 4,
        "urgent": [0] * 4,
        "opened_at": [MON_9] * 4,
        "dispatched_at": [MON_9 + H // 6] * 4,
        "dispatch_due": [MON_9 + H // 2] * 4,
        "dispatched_on_time": [1, 1, 1, 0],
        "deadline_value": [4.0] * 4,
        "deadline_unit": ["work_hours"] * 4,
        "deadline": [MON_9 + 4 * H] * 4,
    }
    insert(migrated_db, "dispatches", dispatches)
    rows = chdb_executor.query(
        f"SELECT * FROM {migrated_db}.kpi_department_score "
        "WHERE period = 'week' AND period_start = '2023-07-31'"
    )
    assert len(rows) == 1
    r = rows[0]
    assert r["period_start"] == date(2023, 7, 31)
    assert (r["opened"], r["due"], r["handled"], r["closed"], r["closed_on_time"]) == (
        4,
        3,
        2,
        2,
        1,
    )
    assert r["closure_rate"] == pytest.approx(200 / 3)
    assert r["on_time_closure_rate"] == pytest.approx(100 / 3)
    assert r["on_time_handling_rate"] == pytest.approx(100 / 3)
    assert r["rework_rate"] == pytest.approx(50.0)
    assert r["on_time_dispatch_rate"] == pytest.approx(75.0)
    assert r["volume_score"] == pytest.approx(100.0)
    # 10 + 20 + 10 + 15 = 55 -> D
    assert r["composite"] == pytest.approx(55.0)
    assert r["grade"] == "D"


def test_voided_and_held_cases_are_not_due(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    """应结案 leaves out voided cases, even overdue or handled ones, and cases on hold (no
    deadline in force); a resumed case is judged against its moved deadline."""
    overdue = MON_9 + 4 * H  # long past when the test runs
    cases = [
        _case(1, status="signed", signed_at=MON_9 + H),  # overdue: due, not handled
        _case(2, status="voided", voided_at=MON_9 + 5 * H),  # voided after its deadline
        _case(3, status="voided", handled_at=MON_9 + 2 * H, voided_at=MON_9 + 3 * H),
        _case(4, status="on_hold", deadline=0),  # paused: no deadline in force
        _case(5, status="voided", deadline=0, hold_s=3600, voided_at=MON_9 + 6 * H),
        # held 3 h, deadline moved from 13:00 to 16:00: handled at 15:00 is on time
        _case(
            6, status="handled", handled_at=MON_9 + 6 * H, deadline=overdue + 3 * H, hold_s=3 * 3600
        ),
    ]
    insert(migrated_db, "cases", {name: [c[name] for c in cases] for name in cases[0]})
    now_ms = int(time.time() * 1000)
    tables = {"cases": {n: [c[n] for c in cases] for n in cases[0]}, "dispatches": _no_dispatches()}
    want = reference.case_unit_kpis(tables, TZ, now_ms)[("week", date(2023, 7, 31), "district", "")]
    rows = chdb_executor.query(
        f"SELECT due, handled, handled_on_time, opened FROM {migrated_db}.kpi_units "
        "WHERE period = 'week' AND level = 'district'"
    )
    assert rows == [{"due": 2, "handled": 1, "handled_on_time": 1, "opened": 3}]
    assert (want["due"], want["handled_on_time"], want["opened"]) == (2, 1, 3)


def _no_dispatches() -> dict[str, list[Any]]:
    names = ["case_id", "dispatched_on_time"]
    return {n: [] for n in names}
