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
* ``kpi-<query>``: latency of each KPI query over a store of
  ``CITYSTREAM_BENCH_KPI_EVENTS`` events (1.5 M by default, 10 M for the big run); subject
  only, events = 1 query per round, so it is reported but not guarded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from bench.harness import SUBJECT, BenchScale, peer, record
from bench.harness.knobs import load_knobs
from bench.harness.services import unavailable
from deploy.local.clickhouse import clickhouse_healthy
from sinks.clickhouse import ClickHouseSink, make_client
from sinks.kpi import queries
from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from sinks.synthetic import generate
from sinks.tables import TABLES, coerce_columns
from streams.settings import Settings, load_settings

pytestmark = pytest.mark.bench

MESSAGE_ROWS = 4096  # rows per Kafka message handed to the sink
INSERT_CASES = 150_000  # synthetic cases whose events are inserted (~3 events a case)
SMOKE_INSERT_CASES = 3_000
SMOKE_KPI_EVENTS = 30_000
ROUNDS = 5  # timed rounds at full size (smoke: 1), after one warm-up round
# the inserts share 2 cores with the server and the neighbours' bursts: more rounds make
# each side's fastest round, and so the sink ÷ bare ratio, steadier
INSERT_ROUNDS = 10
GOAL_PAIRS = 3  # alternating bare/sink rounds behind the paired_ratio figure


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


@pytest.fixture(scope="module")
def kpi_store(bench_settings: Settings, bench_scale: BenchScale) -> Iterator[str]:
    name = "bench_kpi_" + uuid.uuid4().hex[:10]
    client = make_client(bench_settings, use_numpy=False)
    migrate(DriverExecutor(client), name, bench_settings.calendar.timezone)
    full = load_knobs().kpi_events
    n_events = bench_scale.pick(full, smoke=min(full, SMOKE_KPI_EVENTS))
    n_cases = max(1, n_events // 3)  # about 3 events a case
    sink = ClickHouseSink(bench_settings, database=name, max_buffered_rows=10_000_000)
    for part in range(0, n_cases, 500_000):
        data = generate(min(500_000, n_cases - part), seed=part + 1, days=90)
        for offset, (table, columns) in enumerate(data.tables.items()):
            sink.add(table, 0, offset, columns)
        sink.flush()
    sink.close()
    yield name
    client.execute(f"DROP DATABASE IF EXISTS {name}")
    client.disconnect()


KPI_QUERIES: dict[str, Callable[[DriverExecutor, str, str], Any]] = {
    "league-table": lambda ex, db, tz: queries.league_table(ex, db, tz, "week", _day("2023-07-10")),
    "trend-90-days": lambda ex, db, tz: queries.trend(
        ex, db, tz, _day("2023-07-01"), _day("2023-09-30")
    ),
    "hotspots-90-days": lambda ex, db, tz: queries.hotspots(
        ex, db, tz, _day("2023-07-01"), _day("2023-09-30")
    ),
    "intake-weeks": lambda ex, db, tz: ex.query(
        f"SELECT * FROM {db}.kpi_intake WHERE period = 'week'"
    ),
    "durations-months": lambda ex, db, tz: ex.query(
        f"SELECT * FROM {db}.kpi_durations WHERE period = 'month'"
    ),
}


def _day(text: str) -> date:
    return date.fromisoformat(text)


@pytest.mark.parametrize("name", list(KPI_QUERIES))
def test_kpi_query_latency(
    benchmark: Any, bench_settings: Settings, kpi_store: str, name: str, bench_scale: BenchScale
) -> None:
    # latency only: one query per round, no peer (reported, not guarded)
    record(benchmark, path=f"kpi-{name}", role=SUBJECT, events=1)
    client = make_client(bench_settings, use_numpy=False)
    args = (DriverExecutor(client), kpi_store, bench_settings.calendar.timezone)
    result = benchmark.pedantic(KPI_QUERIES[name], args=args, **_rounds(bench_scale))
    client.disconnect()
    assert result, f"{name} returned no rows"
