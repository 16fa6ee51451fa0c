"""Sink throughput beside a bare clickhouse-driver insert, and KPI query latency.

Needs the real server (``citystream up``). The KPI table size is
``CITYSTREAM_BENCH_KPI_EVENTS`` (Settings.bench_kpi_events; 1.5M by default, 10_000_000 for
the big run). Run: ``.venv/bin/pytest bench/test_bench_sinks.py -m bench --benchmark-enable``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

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
SINK_GOAL = 0.70  # the sink must reach 70% of a bare columnar insert


@pytest.fixture(scope="module")
def bench_settings() -> Settings:
    settings = load_settings()
    if not clickhouse_healthy(settings):
        message = "ClickHouse is not reachable: run `citystream up` first"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return settings


@pytest.fixture
def database(bench_settings: Settings) -> Iterator[str]:
    name = "bench_" + uuid.uuid4().hex[:10]
    client = make_client(bench_settings, use_numpy=False)
    migrate(DriverExecutor(client), name, bench_settings.timezone)
    yield name
    client.execute(f"DROP DATABASE IF EXISTS {name}")
    client.disconnect()


def _best_of(n: int, fn: Callable[[], Any], reset: Callable[[], None]) -> float:
    times = []
    for _ in range(n):
        reset()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def test_sink_throughput_beside_a_bare_insert(
    benchmark: Any, bench_settings: Settings, database: str
) -> None:
    events = generate(150_000, seed=1).tables["events"]
    rows = len(events["event_id"])
    arrays = coerce_columns("events", events)
    names = ", ".join(c.name for c in TABLES["events"])
    client = make_client(bench_settings)
    admin = make_client(bench_settings, use_numpy=False)

    def truncate() -> None:
        admin.execute(f"TRUNCATE TABLE {database}.events")

    def bare() -> None:
        client.execute(f"INSERT INTO {database}.events ({names}) VALUES", arrays, columnar=True)

    def through_sink() -> None:
        sink = ClickHouseSink(bench_settings, database=database, client=client)
        for offset, start in enumerate(range(0, rows, MESSAGE_ROWS)):
            chunk = {k: v[start : start + MESSAGE_ROWS] for k, v in events.items()}
            sink.add("events.fused", 0, offset, chunk)
        sink.flush()

    bare_s = _best_of(3, bare, truncate)
    sink_s = _best_of(3, through_sink, truncate)
    truncate()
    benchmark.pedantic(through_sink, setup=truncate, rounds=3, iterations=1)
    ratio = bare_s / sink_s
    benchmark.extra_info.update(
        rows=rows, bare_rows_per_s=rows / bare_s, sink_rows_per_s=rows / sink_s, ratio=ratio
    )
    assert ratio >= SINK_GOAL, f"sink at {ratio:.0%} of a bare insert (goal {SINK_GOAL:.0%})"


@pytest.fixture(scope="module")
def kpi_store(bench_settings: Settings) -> Iterator[str]:
    name = "bench_kpi_" + uuid.uuid4().hex[:10]
    client = make_client(bench_settings, use_numpy=False)
    migrate(DriverExecutor(client), name, bench_settings.timezone)
    n_cases = max(1, bench_settings.bench_kpi_events // 3)  # about 3 events a case
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
    "league_table": lambda ex, db, tz: queries.league_table(ex, db, tz, _day("2023-07-10")),
    "trend_90_days": lambda ex, db, tz: queries.trend(
        ex, db, tz, _day("2023-07-01"), _day("2023-09-30")
    ),
    "hotspots_90_days": lambda ex, db, tz: queries.hotspots(
        ex, db, tz, _day("2023-07-01"), _day("2023-09-30")
    ),
    "intake_weeks": lambda ex, db, tz: ex.query(
        f"SELECT * FROM {db}.kpi_intake WHERE period = 'week'"
    ),
    "durations_months": lambda ex, db, tz: ex.query(
        f"SELECT * FROM {db}.kpi_durations WHERE period = 'month'"
    ),
}


def _day(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


@pytest.mark.parametrize("name", list(KPI_QUERIES))
def test_kpi_query_latency(
    benchmark: Any, bench_settings: Settings, kpi_store: str, name: str
) -> None:
    ex = DriverExecutor(make_client(bench_settings, use_numpy=False))
    result = benchmark.pedantic(
        KPI_QUERIES[name], args=(ex, kpi_store, bench_settings.timezone), rounds=3
    )
    benchmark.extra_info["events"] = bench_settings.bench_kpi_events
    assert result, f"{name} returned no rows"
