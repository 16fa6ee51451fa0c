"""Sink throughput beside a bare clickhouse-driver insert, and KPI query latency.

Needs the real server (``citystream up``): skipped without it, FAILED under ``CI=true``.
Run: ``citystream bench --suites sinks`` (``--smoke`` for tiny sizes). Paths:

* ``sink-insert``: the seeded ``events`` rows through :class:`ClickHouseSink` in
  4096-row Kafka messages (subject) beside one bare clickhouse-driver columnar insert of
  the same, already coerced, columns (``clickhouse-driver``); events = rows per round.
  The sink's batch is set to hold all the rows, so both make ONE insert: the server's
  fixed cost per insert (a new part each) swings between ~0 and ~60 ms with the load of
  the shared machine and would swamp the sink's own overhead (buffering, coercion,
  concatenation), which is what the ratio guards. How many rows a production insert
  carries is a setting (``sink_batch_rows``), not code. After the benchmark the sink's
  speed relative to the bare insert is also timed over alternating rounds and recorded as
  the figure ``paired_ratio``, which the goal "sink >= 70 % of a bare insert"
  (bench/harness/goals.py) is judged on; reported, not asserted (full size only: tiny
  inserts are dominated by per-insert overhead).
* ``kpi-<query>``: latency of each report query (sinks/kpi/*.sql) and of a dashboard read
  of each BI view over a store of ``CITYSTREAM_BENCH_KPI_EVENTS`` events (10 M by default),
  with its rollups refreshed (subject, 3 rounds), beside the same query on the same data
  parts under the schema before the rollups, whose views read the raw rows with FINAL
  (peer ``final-raw``: today's way, one round); events = 1 query per round, so the ratio
  is how many times faster the rollups answer (docs/bi/rollups.md). Besides the report's
  queries and the BI views, each section of the meetings' reports (``report-<meeting>-
  <section>``: sinks/kpi/sections.py, as ``citystream report --meeting`` reads them) that no
  other path times. The store is one generated chunk written through the sink and its
  server-side copies (bench/kpi_store.py): generating all 10 M events in Python was most of
  the suite's time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bench.harness import SUBJECT, BenchScale, peer, record
from bench.harness.knobs import load_knobs
from bench.harness.services import unavailable
from bench.kpi_chdb import build_chdb_stores
from bench.kpi_queries import EMPTY_ANSWERS, KPI_QUERIES, answered
from bench.kpi_store import fill_store
from deploy.local.clickhouse import clickhouse_healthy
from sinks.clickhouse import ClickHouseSink, make_client
from sinks.migrate import Migration, load_migrations, migrate
from sinks.rollups import refresh_all
from sinks.sql import ChdbExecutor, DriverExecutor
from sinks.streets import load_campaigns
from sinks.synthetic import generate
from sinks.synthetic_patrols import generate_patrols
from sinks.tables import TABLES, coerce_columns, tables_of
from streams.settings import Settings, load_settings

pytestmark = pytest.mark.bench

MESSAGE_ROWS = 4096  # rows per Kafka message handed to the sink
INSERT_CASES = 150_000  # synthetic cases whose events are inserted (~3 events a case)
SMOKE_INSERT_CASES = 3_000
SMOKE_KPI_EVENTS = 30_000
ROUNDS = 5  # timed rounds at full size (smoke: 1), after one warm-up round
KPI_ROUNDS = 3  # a KPI query not rolled up yet takes seconds a round at 10 M events
# the inserts share 2 cores with the server and the neighbours' bursts: more rounds make
# each side's fastest round, and so the sink ÷ bare ratio, steadier
INSERT_ROUNDS = 10
GOAL_PAIRS = 3  # alternating bare/sink rounds behind the paired_ratio figure
# a rollup refresh or a raw query over 10 M events can take minutes with no packet back
ROLLUP_TIMEOUT_S = 1800
KPI_START_MS = 1_688_140_800_000  # 2023-07-01 00:00 +08, where sinks.synthetic starts
PATROL_EVENT_IDS = 10**12


@pytest.fixture(scope="module")
def bench_settings() -> Settings:
    settings = load_settings()
    if not clickhouse_healthy(settings):
        unavailable("ClickHouse is not reachable: run `citystream up` first")
    return settings


@pytest.fixture
def database(bench_settings: Settings) -> Iterator[str]:
    name = "bench_" + uuid.uuid4().hex[:10]
    client = make_client(bench_settings, use_numpy=False)
    migrate(DriverExecutor(client), name, bench_settings.calendar.timezone)
    yield name
    client.execute(f"DROP DATABASE IF EXISTS {name}")
    client.disconnect()


@pytest.fixture(scope="module")
def insert_events(bench_scale: BenchScale) -> dict[str, Any]:
    cases = bench_scale.pick(INSERT_CASES, smoke=SMOKE_INSERT_CASES)
    events: dict[str, Any] = generate(cases, seed=1).tables["events"]
    return events


def _rounds(bench_scale: BenchScale, rounds: int = ROUNDS) -> dict[str, int]:
    """pedantic() options: its own warm-up, since pytest-benchmark's does not apply."""
    return {
        "rounds": bench_scale.pick(rounds, smoke=1),
        "warmup_rounds": bench_scale.pick(1, smoke=0),
        "iterations": 1,
    }


@dataclass(frozen=True)
class InsertRun:
    """What the two insert benchmarks share: the rows, an empty events table, a client."""

    settings: Settings
    database: str
    events: dict[str, Any]
    client: Any
    scale: BenchScale

    @property
    def rows(self) -> int:
        return len(self.events["event_id"])

    def truncate(self) -> None:
        self.client.execute(f"TRUNCATE TABLE {self.database}.events")

    def stored(self) -> int:
        return int(self.client.execute(f"SELECT count() FROM {self.database}.events")[0][0])


@pytest.fixture
def insert_run(
    bench_settings: Settings, database: str, insert_events: dict[str, Any], bench_scale: BenchScale
) -> Iterator[InsertRun]:
    client = make_client(bench_settings)
    yield InsertRun(bench_settings, database, insert_events, client, bench_scale)
    client.disconnect()


def _bare_insert(run: InsertRun) -> Callable[[], None]:
    """The peer: one INSERT of the pre-coerced columns."""
    arrays = coerce_columns("events", run.events)
    columns = ", ".join(c.name for c in TABLES["events"])
    sql = f"INSERT INTO {run.database}.events ({columns}) VALUES"
    return lambda: run.client.execute(sql, arrays, columnar=True)


def _sink_inserts(run: InsertRun) -> Callable[[], None]:
    """The subject: the rows as 4096-row messages through a fresh sink, then a flush."""
    rows, events = run.rows, run.events
    one_batch = run.settings.replace(sink_batch_rows=rows)  # one insert, as the peer's

    def through_sink() -> None:
        sink = ClickHouseSink(one_batch, database=run.database, client=run.client)
        for offset, start in enumerate(range(0, rows, MESSAGE_ROWS)):
            chunk = {k: v[start : start + MESSAGE_ROWS] for k, v in events.items()}
            sink.add("events.fused", 0, offset, chunk)
        sink.flush()

    return through_sink


def _paired_ratio(
    bare: Callable[[], None], sink: Callable[[], None], reset: Callable[[], None]
) -> float:
    """Bare ÷ sink time over alternating rounds, fastest of each.

    The neighbours' load on the 2 shared cores comes in bursts of seconds, so two
    benchmarks timed one after the other can see different loads; alternating rounds
    see the same, which a goal judged on one figure needs.
    """
    times: dict[Callable[[], None], list[float]] = {bare: [], sink: []}
    for _ in range(GOAL_PAIRS):
        for fn, spent in times.items():
            reset()
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return min(times[bare]) / min(times[sink])


def test_bare_driver_insert(benchmark: Any, insert_run: InsertRun) -> None:
    run = insert_run
    record(benchmark, path="sink-insert", role=peer("clickhouse-driver"), events=run.rows)
    benchmark.pedantic(_bare_insert(run), setup=run.truncate, **_rounds(run.scale, INSERT_ROUNDS))
    assert run.stored() == run.rows


def test_sink_insert(benchmark: Any, insert_run: InsertRun) -> None:
    run = insert_run
    record(benchmark, path="sink-insert", role=SUBJECT, events=run.rows)
    through_sink = _sink_inserts(run)
    benchmark.pedantic(through_sink, setup=run.truncate, **_rounds(run.scale, INSERT_ROUNDS))
    assert run.stored() == run.rows
    if not run.scale.smoke:
        ratio = _paired_ratio(_bare_insert(run), through_sink, run.truncate)
        benchmark.extra_info["paired_ratio"] = round(ratio, 4)  # the goal's figure


@dataclass(frozen=True)
class KpiStores:
    """One store of synthetic events twice: ``rollups`` with every migration and its rollups
    refreshed, ``raw`` with the schema before the rollups (views reading the raw rows with
    FINAL, today's way) over the same data parts."""

    rollups: str
    raw: str


def _before_rollups() -> list[Migration]:
    migrations = load_migrations()
    names = [m.name for m in migrations]
    return migrations[: names.index("rollups")]


# the building blocks the report queries read that came with the rollups, as the peer's
# schema had them: the raw rows with FINAL (migration 0019's escalation_levels is
# `escalations FINAL`'s rows, rolled up per month)
RAW_BUILDING_BLOCKS = {
    "escalation_levels": "SELECT case_id, level, escalated_at FROM {db}.escalations FINAL",
}


def _attach_same_parts(client: Any, source: str, target: str, tables: list[str]) -> None:
    """The raw tables' partitions of ``source`` in ``target`` too (hard links, no copy)."""
    for table in tables:
        rows = client.execute(
            "SELECT DISTINCT partition_id FROM system.parts "
            f"WHERE database = '{source}' AND table = '{table}' AND active"
        )
        for (partition_id,) in rows:
            client.execute(
                f"ALTER TABLE {target}.{table} ATTACH PARTITION ID '{partition_id}' "
                f"FROM {source}.{table}"
            )


@pytest.fixture(scope="module")
def kpi_stores(bench_settings: Settings, bench_scale: BenchScale) -> Iterator[KpiStores]:
    stores = KpiStores("bench_kpi_" + uuid.uuid4().hex[:10], "bench_raw_" + uuid.uuid4().hex[:10])
    tz = bench_settings.calendar.timezone
    client = make_client(bench_settings, use_numpy=False, timeout_s=ROLLUP_TIMEOUT_S)
    ex = DriverExecutor(client)
    migrate(ex, stores.rollups, tz)
    full = load_knobs().kpi_events
    n_events = bench_scale.pick(full, smoke=min(full, SMOKE_KPI_EVENTS))
    n_cases = max(1, n_events // 3)  # about 3 events a case
    sink = ClickHouseSink(bench_settings, database=stores.rollups, max_buffered_rows=10_000_000)

    def write(tables: dict[str, dict[str, Any]]) -> None:
        for offset, (table, columns) in enumerate(tables.items()):
            sink.add(table, 0, offset, columns)
        sink.flush()

    fill_store(ex, stores.rollups, write, n_cases, days=90)
    patrols = generate_patrols(seed=1, start_ms=KPI_START_MS, days=90)
    # ids apart from the generated events' (which reuse 1..10 x their number)
    patrols["events"]["event_id"] = [PATROL_EVENT_IDS + e for e in patrols["events"]["event_id"]]
    for offset, (table, columns) in enumerate(patrols.items()):
        sink.add(table, 1, offset, columns)
    sink.flush()
    sink.close()
    # the packaged campaign calendar (Aug-Nov 2023, within the generated 90 days), as the
    # sink loads it at its start
    load_campaigns(bench_settings, stores.rollups)
    refresh_all(ex, stores.rollups)
    before = _before_rollups()
    migrate(ex, stores.raw, tz, before)
    _attach_same_parts(
        client, stores.rollups, stores.raw, list(tables_of([m.template for m in before]))
    )
    for name, sql in RAW_BUILDING_BLOCKS.items():
        client.execute(f"CREATE VIEW {stores.raw}.{name} AS {sql.format(db=stores.raw)}")
    yield stores
    for name in (stores.rollups, stores.raw):
        client.execute(f"DROP DATABASE IF EXISTS {name}")
    client.disconnect()


@pytest.mark.parametrize("name", list(KPI_QUERIES))
def test_kpi_query_latency(
    benchmark: Any,
    bench_settings: Settings,
    kpi_stores: KpiStores,
    name: str,
    bench_scale: BenchScale,
) -> None:
    # one query per round; its peer below is the same query over the raw rows
    record(benchmark, path=f"kpi-{name}", role=SUBJECT, events=1)
    result = _time_query(benchmark, bench_settings, kpi_stores.rollups, name, bench_scale)
    assert answered(result) or name in EMPTY_ANSWERS, f"{name} returned no rows"


@pytest.mark.parametrize("name", list(KPI_QUERIES))
def test_kpi_query_over_raw_rows(
    benchmark: Any,
    bench_settings: Settings,
    kpi_stores: KpiStores,
    name: str,
    bench_scale: BenchScale,
) -> None:
    # today's way: the views before the rollups, FINAL over the raw rows (slow: one round)
    record(benchmark, path=f"kpi-{name}", role=peer("final-raw"), events=1)
    result = _time_query(benchmark, bench_settings, kpi_stores.raw, name, bench_scale, rounds=1)
    assert answered(result) or name in EMPTY_ANSWERS, f"{name} returned no rows"


@pytest.fixture(scope="module")
def chdb_kpi_stores(
    bench_settings: Settings, kpi_stores: KpiStores, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ChdbExecutor, KpiStores]]:
    """The server's store again in an in-process chdb session (bench/kpi_chdb.py)."""
    ex = ChdbExecutor(str(tmp_path_factory.mktemp("chdb-kpi")))
    stores = KpiStores("bench_kpi", "bench_raw")
    try:
        build_chdb_stores(
            ex,
            bench_settings.clickhouse,
            kpi_stores.rollups,
            (stores.rollups, stores.raw),
            bench_settings.calendar.timezone,
            _before_rollups(),
            RAW_BUILDING_BLOCKS,
        )
        yield ex, stores
    finally:
        ex.close()


@pytest.mark.parametrize("name", list(KPI_QUERIES))
def test_kpi_query_latency_in_chdb(
    benchmark: Any,
    bench_settings: Settings,
    chdb_kpi_stores: tuple[ChdbExecutor, KpiStores],
    name: str,
    bench_scale: BenchScale,
) -> None:
    # the same query over the same rows, in chdb (a current ClickHouse, in process)
    record(benchmark, path=f"kpi-chdb-{name}", role=SUBJECT, events=1)
    ex, stores = chdb_kpi_stores
    tz = bench_settings.calendar.timezone
    _time_in_chdb(benchmark, ex, stores.rollups, tz, name, _rounds(bench_scale, KPI_ROUNDS))


@pytest.mark.parametrize("name", list(KPI_QUERIES))
def test_kpi_query_over_raw_rows_in_chdb(
    benchmark: Any,
    bench_settings: Settings,
    chdb_kpi_stores: tuple[ChdbExecutor, KpiStores],
    name: str,
    bench_scale: BenchScale,
) -> None:
    record(benchmark, path=f"kpi-chdb-{name}", role=peer("final-raw"), events=1)
    ex, stores = chdb_kpi_stores
    tz = bench_settings.calendar.timezone
    _time_in_chdb(benchmark, ex, stores.raw, tz, name, _rounds(bench_scale, 1))


def _time_in_chdb(
    benchmark: Any, ex: ChdbExecutor, database: str, tz: str, name: str, rounds: dict[str, int]
) -> None:
    result = benchmark.pedantic(KPI_QUERIES[name], args=(ex, database, tz), **rounds)
    assert answered(result) or name in EMPTY_ANSWERS, f"{name} returned no rows"


def _time_query(
    benchmark: Any,
    settings: Settings,
    database: str,
    name: str,
    scale: BenchScale,
    rounds: int = KPI_ROUNDS,
) -> Any:
    client = make_client(settings, use_numpy=False, timeout_s=ROLLUP_TIMEOUT_S)
    args = (DriverExecutor(client), database, settings.calendar.timezone)
    try:
        return benchmark.pedantic(KPI_QUERIES[name], args=args, **_rounds(scale, rounds))
    finally:
        client.disconnect()
