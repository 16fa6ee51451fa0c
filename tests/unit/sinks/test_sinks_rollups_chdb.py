"""The KPI rollups on chdb (migration 0011, sinks/rollups.py): a refresh never changes what
a view answers; fresh months are read from the rollup; replays, new case versions and
deadlines passing after a refresh are counted exactly as the Python reference says."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sinks import reference
from sinks.kpi import queries
from sinks.kpi.queries import BI_VIEWS
from sinks.rollups import RefreshResult, refresh, refresh_all
from sinks.sql import ChdbExecutor, SqlError
from sinks.synthetic import Dataset, generate
from sinks.tables import TABLES
from tests.kpi_rows import assert_rows_equal

TZ = "Asia/Shanghai"
Insert = Callable[[str, str, Mapping[str, Any]], None]
HOTSPOT_KEY = ("period", "period_start", "grid_code")
INTAKE_KEY = ("period", "period_start", "source")
ESCALATION_KEY = ("period", "period_start", "department", "level")
DURATION_KEY = ("period", "period_start", "department")
WEEK_31_7 = date(2023, 7, 31)  # a local week starting in July's partition, ending in August's


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(240, seed=20231207)


def _load(insert: Insert, database: str, data: Dataset) -> None:
    for table, columns in data.tables.items():
        insert(database, table, columns)


def _rounded(value: Any) -> Any:
    # a mean of sums (kpi_hotspots' positions) differs in the last bits with the order the
    # engine adds in, between two runs of the same query too
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _views(ex: ChdbExecutor, db: str) -> dict[str, list[str]]:
    return {
        v: sorted(
            repr(sorted((k, _rounded(x)) for k, x in r.items()))
            for r in ex.query(f"SELECT * FROM {db}.{v}")
        )
        for v in BI_VIEWS
    }


def _refresh(ex: ChdbExecutor, db: str) -> RefreshResult:
    """Every family refreshed; the case family's result."""
    return refresh_all(ex, db)["cases"]


def _stale(ex: ChdbExecutor, db: str) -> list[int]:
    return sorted(int(r["month"]) for r in ex.query(f"SELECT month FROM {db}.rollup_stale"))


def _assert_kpis_equal_the_reference(
    ex: ChdbExecutor, db: str, tables: Mapping[str, Mapping[str, Any]]
) -> None:
    now_ms = int(time.time() * 1000)
    units = ex.query(f"SELECT * FROM {db}.kpi_units")
    assert_rows_equal(units, reference.case_unit_kpis(tables, TZ, now_ms))
    spots = ex.query(f"SELECT * FROM {db}.kpi_hotspots")
    assert_rows_equal(spots, reference.hotspots(tables, TZ), key=HOTSPOT_KEY)
    durations = ex.query(f"SELECT * FROM {db}.kpi_durations")
    assert_rows_equal(durations, reference.durations(tables, TZ), key=DURATION_KEY)
    if "links" in tables:
        intake = ex.query(f"SELECT * FROM {db}.kpi_intake")
        assert_rows_equal(intake, reference.intake(tables, TZ), key=INTAKE_KEY)
    if "verify_tasks" in tables:
        tasks = ex.query(f"SELECT * FROM {db}.kpi_verification")
        assert_rows_equal(tasks, reference.verification(tables, TZ, now_ms))
    if "escalations" in tables:
        raised = ex.query(f"SELECT * FROM {db}.kpi_escalations")
        assert_rows_equal(raised, reference.escalations(tables, TZ), key=ESCALATION_KEY)


def test_a_refresh_changes_no_view_and_the_views_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    ex, db = chdb_executor, migrated_db
    _load(insert, db, dataset)
    live = _views(ex, db)
    assert _stale(ex, db)  # nothing refreshed yet: every month is computed from raw rows
    result = _refresh(ex, db)
    assert result.months and _stale(ex, db) == []
    assert _views(ex, db) == live
    _assert_kpis_equal_the_reference(ex, db, dataset.tables)
    assert _refresh(ex, db).months == ()  # nothing changed since: nothing to do


def test_fresh_months_are_read_from_the_rollup_rows(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    """A row planted in the current generation shows in the views: they read the rollup,
    not the raw rows, once a month is fresh (and a stale month's rows are ignored)."""
    ex, db = chdb_executor, migrated_db
    _load(insert, db, dataset)
    result = _refresh(ex, db)
    planted = (
        f"INSERT INTO {db}.rollup_case_rows (month, generation, pending, r_period, "
        "r_period_start, department, street, community, grid_code, n_opened) "
        "SELECT toUInt32({month}), toUInt64({generation}), 0, 'day', toDate('1999-01-04'), "
        "'planted', 's', 'c', 'g', 7"
    )
    query = f"SELECT opened FROM {db}.kpi_units WHERE period_start = toDate('1999-01-04')"
    ex.execute(planted.format(month=result.months[0], generation=result.generation))
    assert [r["opened"] for r in ex.query(query + " AND level = 'district'")] == [7]
    ex.execute(planted.format(month=result.months[0], generation=result.generation - 1))
    assert [r["opened"] for r in ex.query(query + " AND level = 'district'")] == [7]


def test_replays_and_new_versions_after_a_refresh_count_once(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    ex, db = chdb_executor, migrated_db
    _load(insert, db, dataset)
    _refresh(ex, db)
    before = _views(ex, db)
    _load(insert, db, dataset)  # the sink redelivers everything after a restart
    assert _stale(ex, db)
    assert _views(ex, db) == before
    assert _refresh(ex, db).months and _views(ex, db) == before

    voided = _voided_versions(dataset.tables["cases"], n=25)
    insert(db, "cases", voided)
    tables = {**dataset.tables, "cases": _concat(dataset.tables["cases"], voided)}
    _assert_kpis_equal_the_reference(ex, db, tables)  # stale: live rows
    changed = _views(ex, db)
    assert changed["kpi_units"] != before["kpi_units"]
    result = _refresh(ex, db)
    assert result.months and result.dropped
    assert _views(ex, db) == changed
    _assert_kpis_equal_the_reference(ex, db, tables)  # fresh: rollup rows
    parts = ex.query(
        "SELECT DISTINCT partition FROM system.parts "
        f"WHERE database = '{db}' AND table = 'rollup_case_rows' AND active"
    )
    months = [str(r["partition"]).strip("()").split(",")[0] for r in parts]
    assert months and sorted(months) == sorted(set(months))  # one generation a month left


def _voided_versions(cases: Mapping[str, Any], n: int) -> dict[str, Any]:
    """Newer versions of the last ``n`` case rows, voided (they leave every case KPI)."""
    rows = {k: np.asarray(v)[-n:].copy() for k, v in cases.items()}
    rows["version"] = rows["version"].astype(np.uint64) + np.uint64(1 << 40)
    rows["status"][:] = "voided"
    rows["voided_at"] = rows["opened_at"] + 60_000
    return rows


def _concat(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    return {k: np.concatenate([np.asarray(a[k]), np.asarray(b[k])]) for k in a}


def test_a_deadline_passing_after_the_refresh_makes_the_case_due(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    """Nothing is written when a deadline passes: the rollup keeps the waiting case as a
    pending row that the views count as due once now() is past its deadline."""
    ex, db = chdb_executor, migrated_db
    now_ms = int(time.time() * 1000)
    # far enough ahead for a refresh of every family on a loaded machine to finish first
    deadline_ms = (now_ms // 1000 + 15) * 1000
    case = _open_case(now_ms - 3_600_000, deadline_ms)
    tables = {"cases": case, "dispatches": _no_rows("dispatches")}
    insert(db, "cases", case)
    assert _refresh(ex, db).months
    due = f"SELECT sum(due) AS n FROM {db}.kpi_units WHERE level = 'district' AND period = 'day'"
    assert ex.query(due) == [{"n": 0}]
    _assert_kpis_equal_the_reference(ex, db, tables)
    time.sleep(max(0.0, deadline_ms / 1000 - time.time()) + 1.5)
    assert _stale(ex, db) == []
    assert ex.query(due) == [{"n": 1}]
    _assert_kpis_equal_the_reference(ex, db, tables)


def _open_case(dispatched_ms: int, deadline_ms: int) -> dict[str, list[Any]]:
    row: dict[str, Any] = {c.name: 0 for c in TABLES["cases"]}
    row.update(
        case_id=1,
        version=3 << 32,
        category_key="E0102",
        department="sanitation",
        grid_code="410611001001001",
        community="410611001001",
        street="410611001",
        lat=35.7,
        lon=114.3,
        opened_at=dispatched_ms - 600_000,
        dispatched_at=dispatched_ms,
        deadline=deadline_ms,
        status="dispatched",
    )
    return {name: [value] for name, value in row.items()}


def _no_rows(table: str) -> dict[str, list[Any]]:
    return {c.name: [] for c in TABLES[table]}


def test_refresh_checks_its_arguments(chdb_executor: ChdbExecutor, migrated_db: str) -> None:
    with pytest.raises(SqlError, match="unknown rollup family"):
        refresh(chdb_executor, migrated_db, family="no_such_family")
    with pytest.raises(SqlError):
        refresh(chdb_executor, "no such; db")


# hotspots.sql before the rollups: straight from the per-case facts
HOTSPOTS_FROM_FACTS = """
SELECT grid_code, count() AS cases, countIf(recurrence_of != 0) AS recurrences,
    avg(lat) AS mean_lat, avg(lon) AS mean_lon
FROM {db}.case_facts
WHERE voided = 0 AND toDate(opened_at, '{tz}') >= toDate('{start}')
    AND toDate(opened_at, '{tz}') <= toDate('{end}')
GROUP BY grid_code
ORDER BY cases DESC, grid_code
"""


def test_the_hotspot_query_reads_the_rollup_and_answers_as_the_facts_did(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    ex, db = chdb_executor, migrated_db
    _load(insert, db, dataset)
    _refresh(ex, db)
    start, end = date(2023, 7, 3), date(2023, 7, 16)
    got = queries.hotspots(ex, db, TZ, start, end)
    want = ex.query(HOTSPOTS_FROM_FACTS.format(db=db, tz=TZ, start=start, end=end))
    assert len(want) > 5
    assert [r["grid_code"] for r in got] == [r["grid_code"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w), g["grid_code"]


def test_cases_of_a_period_across_two_month_partitions_count_once(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    """kpi_intake adds its cases up over the month partitions: a case with reports on both
    sides of a month's first UTC midnight (in one local day, week, half month or month)
    counts once, stale or fresh, with either month refreshed alone, and after a replay."""
    ex, db = chdb_executor, migrated_db
    # 2023-07-25 .. 2023-08-15: cases opened late on 31 July have reports in August
    data = generate(400, seed=7, start_ms=1_690_243_200_000, days=21)
    links = data.tables["links"]
    month = np.asarray(
        [time.strftime("%Y%m", time.gmtime(ms / 1000)) for ms in links["event_time"]]
    )
    spans: dict[int, set[str]] = {}
    for case_id, m in zip(links["case_id"], month, strict=True):
        spans.setdefault(int(case_id), set()).add(str(m))
    assert any(len(m) == 2 for m in spans.values()), "no case spans the two months"
    _load(insert, db, data)
    want = reference.intake(data.tables, TZ)

    def check(stale: list[int]) -> None:
        rows = ex.query(f"SELECT month FROM {db}.rollup_stale WHERE family = 'intake'")
        assert sorted(int(r["month"]) for r in rows) == stale
        got = ex.query(f"SELECT * FROM {db}.kpi_intake")
        assert_rows_equal(got, want, key=INTAKE_KEY)

    def replay(in_month: str) -> None:
        rows = np.flatnonzero(month == in_month)[:5]
        insert(db, "links", {k: np.asarray(v)[rows] for k, v in links.items()})

    # August's links also make September's month (no links of its own) depend on them
    check([202307, 202308, 202309])  # every month live
    assert refresh(ex, db, "intake").months == (202307, 202308, 202309)
    check([])  # every month from the rollup
    replay("202308")
    check([202308, 202309])  # July from the rollup, August live
    refresh(ex, db, "intake")
    check([])
    replay("202307")  # August counts the cases not seen in July: both are stale
    check([202307, 202308])
    refresh(ex, db, "intake")
    check([])


def test_durations_of_periods_across_two_month_partitions_stay_exact(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    """kpi_durations stores each period's finished rows under the month partition its first
    instant lies in, computed from that partition and the next: the week of 31 July (local)
    starts in July's partition and holds cases of August's; the local month of August
    starts at 16:00 UTC on 31 July. Stale or fresh, with the facts rolled up or not, after
    replays on either side of the boundary and newer versions of cases, the view equals the
    reference, and a partition makes its own month and the one before stale."""
    ex, db = chdb_executor, migrated_db
    # 2023-07-25 .. 2023-08-15 (UTC)
    data = generate(400, seed=11, start_ms=1_690_243_200_000, days=21)
    cases = data.tables["cases"]
    month = np.asarray([time.strftime("%Y%m", time.gmtime(ms / 1000)) for ms in cases["opened_at"]])
    zone = ZoneInfo(TZ)
    days = [reference.local_date(int(ms), zone) for ms in cases["opened_at"]]
    in_week = {
        m for m, d in zip(month, days, strict=True) if d - timedelta(d.weekday()) == WEEK_31_7
    }
    assert {"202307", "202308"} <= in_week, "no week spans the two partitions"
    _load(insert, db, data)
    tables = dict(data.tables)

    def check(stale: list[int]) -> None:
        rows = ex.query(f"SELECT month FROM {db}.rollup_stale WHERE family = 'durations'")
        assert sorted(int(r["month"]) for r in rows) == stale
        got = ex.query(f"SELECT * FROM {db}.kpi_durations")
        assert_rows_equal(got, reference.durations(tables, TZ), key=DURATION_KEY)

    def replay(in_month: str) -> None:
        rows = np.flatnonzero(month == in_month)[:5]
        insert(db, "cases", {k: np.asarray(v)[rows] for k, v in cases.items()})

    # July's cases make June's month hold the local month of July (it starts on 30 June)
    check([202306, 202307, 202308])  # every month live, from live facts
    assert refresh(ex, db, "durations").months == (202306, 202307, 202308)
    check([])
    replay("202308")
    check([202307, 202308])  # June from the rollup; July's periods reach into August
    refresh(ex, db, "facts")
    check([202307, 202308])  # live again, from stored facts
    refresh(ex, db, "durations")
    check([])
    replay("202307")
    check([202306, 202307])
    august = {k: np.asarray(v)[month == "202308"] for k, v in cases.items()}
    voided = _voided_versions(august, n=30)
    insert(db, "cases", voided)
    tables["cases"] = _concat(cases, voided)
    check([202306, 202307, 202308])
    refresh(ex, db, "durations")
    check([])


def test_fresh_duration_months_are_read_from_their_rows(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    ex, db = chdb_executor, migrated_db
    _load(insert, db, dataset)
    result = refresh(ex, db, "durations")
    planted = (
        f"INSERT INTO {db}.rollup_duration_rows (month, generation, period, period_start, "
        "department, cases) SELECT toUInt32({month}), toUInt64({generation}), 'day', "
        "toDate('1999-01-04'), 'planted', 7"
    )
    query = f"SELECT cases FROM {db}.kpi_durations WHERE department = 'planted'"
    ex.execute(planted.format(month=result.months[0], generation=result.generation))
    assert ex.query(query) == [{"cases": 7}]
    ex.execute(planted.format(month=result.months[0], generation=result.generation - 1))
    assert ex.query(query) == [{"cases": 7}]


# intake_minute before the rollups (0003): straight from the raw events
MINUTES_FROM_EVENTS = """
SELECT
    toStartOfMinute(event_time) AS minute, source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    count() AS events,
    countIf(bitAnd(flags, 1) = 1) AS fixed_on_spot,
    countIf(bitAnd(flags, 2) = 2) AS late
FROM {db}.events FINAL
GROUP BY minute, source
"""


def test_intake_minute_answers_as_the_raw_events_across_a_month_boundary(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    """intake_minute reads each (minute, source) as one rollup row (a minute lies in one
    month partition): stale, refreshed, after a replay of either month."""
    ex, db = chdb_executor, migrated_db
    data = generate(300, seed=5, start_ms=1_690_243_200_000, days=21)  # 25 July .. 15 August
    events = data.tables["events"]
    month = np.asarray(
        [time.strftime("%Y%m", time.gmtime(ms / 1000)) for ms in events["event_time"]]
    )
    assert {"202307", "202308"} <= set(month.tolist())
    insert(db, "events", events)

    def check(stale: list[int]) -> None:
        rows = ex.query(f"SELECT month FROM {db}.rollup_stale WHERE family = 'minutes'")
        assert sorted(int(r["month"]) for r in rows) == stale
        got = sorted(
            tuple(sorted(r.items())) for r in ex.query(f"SELECT * FROM {db}.intake_minute")
        )
        want = sorted(tuple(sorted(r.items())) for r in ex.query(MINUTES_FROM_EVENTS.format(db=db)))
        assert len(want) > 100 and got == want

    check([202307, 202308])
    refresh(ex, db, "minutes")
    check([])
    rows = np.flatnonzero(month == "202308")[:20]
    insert(db, "events", {k: np.asarray(v)[rows] for k, v in events.items()})  # a replay
    check([202308])
    refresh(ex, db, "minutes")
    check([])


# kpi_patrol_grids before the rollups (0002): straight from the raw visits
GRIDS_FROM_VISITS = """
SELECT
    toMonday(toDate(visited_at, '{tz}')) AS week_start, street, community,
    uniqExact(grid_code) AS grids_visited,
    uniqExact(inspector_id) AS inspectors,
    count() AS visits
FROM {db}.patrol_visits FINAL
GROUP BY week_start, street, community
"""


def test_patrol_views_across_a_month_boundary_stale_refreshed_and_replayed(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    """The patrol views count distinct days, grids and inspectors over the per-day rows of
    any months, and add the visits up: the week of 31 July (local) spans July's and
    August's partitions. Equal to the reference (coverage) and to the raw-visit definition
    (grids), stale, refreshed and after a replay of either month."""
    ex, db = chdb_executor, migrated_db
    visits = generate(400, seed=3, start_ms=1_690_243_200_000, days=21).tables["patrol_visits"]
    month = np.asarray(
        [time.strftime("%Y%m", time.gmtime(ms / 1000)) for ms in visits["visited_at"]]
    )
    zone = ZoneInfo(TZ)
    days = [reference.local_date(int(ms), zone) for ms in visits["visited_at"]]
    in_week = {
        m for m, d in zip(month, days, strict=True) if d - timedelta(d.weekday()) == WEEK_31_7
    }
    assert {"202307", "202308"} <= in_week
    insert(db, "patrol_visits", visits)
    rules = {
        r["role"]: r["min_days_per_week"]
        for r in ex.query(f"SELECT role, min_days_per_week FROM {db}.patrol_rules FINAL")
    }
    want_coverage = reference.patrol_coverage(visits, rules, TZ)

    def check(stale: list[int]) -> None:
        rows = ex.query(f"SELECT month FROM {db}.rollup_stale WHERE family = 'patrols'")
        assert sorted(int(r["month"]) for r in rows) == stale
        coverage = {
            (r["week_start"], r["inspector_id"], r["role"]): r
            for r in ex.query(f"SELECT * FROM {db}.kpi_patrol_coverage")
        }
        assert set(coverage) == set(want_coverage)
        for key, want in want_coverage.items():
            assert {k: coverage[key][k] for k in want} == want, key
        grids = sorted(
            repr(sorted(r.items())) for r in ex.query(f"SELECT * FROM {db}.kpi_patrol_grids")
        )
        raw = ex.query(GRIDS_FROM_VISITS.format(db=db, tz=TZ))
        assert len(raw) > 5 and grids == sorted(repr(sorted(r.items())) for r in raw)

    check([202307, 202308])
    assert refresh(ex, db, "patrols").months == (202307, 202308)
    check([])
    for replayed, stale in (("202308", [202308]), ("202307", [202307])):
        rows = np.flatnonzero(month == replayed)[:10]
        insert(db, "patrol_visits", {k: np.asarray(v)[rows] for k, v in visits.items()})
        check(stale)
        refresh(ex, db, "patrols")
        check([])
