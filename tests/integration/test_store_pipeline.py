"""The whole pipeline into the real ClickHouse server: an outage mid-stream, KPIs checked
against Python, and a full replay of every topic that leaves every KPI unchanged."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_driver import Client

from sinks import reference
from sinks.kpi.queries import BI_VIEWS
from sinks.records import dispatch_row
from sinks.sql import DriverExecutor
from streams.app.kafka_admin import ensure_topics
from streams.cases.dispatch import DispatchOrder
from streams.contracts.topics import CASE_STATE, DISPATCH
from streams.runner import WorkerProcess, free_port, read_topic, scrape_metric, wait_until
from streams.settings import Settings
from streams.simulator import Simulation
from tests.integration.pipeline_runs import ReplayedFeed, produce_feed
from tests.kpi_rows import assert_rows_equal

pytestmark = pytest.mark.integration

VIEWS = BI_VIEWS
ROLES = "normalize,dedup,dispatch,lifecycle,departments,supervisors,sink"


def _count(client: Client, db: str, table: str) -> int:
    return int(client.execute(f"SELECT count() FROM {db}.{table} FINAL")[0][0])


def _snapshot(ex: DriverExecutor, db: str) -> dict[str, list[str]]:
    return {
        view: sorted(repr(sorted(r.items())) for r in ex.query(f"SELECT * FROM {db}.{view}"))
        for view in VIEWS
    }


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}


def _python_tables(s: Settings) -> dict[str, dict[str, list[Any]]]:
    """The cases and dispatches as the pipeline's own topics say, without ClickHouse."""
    cases = [orjson.loads(r.value) for r in read_topic(s, s.kafka.topic(CASE_STATE))]
    orders = [
        dispatch_row(DispatchOrder.from_dict(orjson.loads(r.value)))
        for r in read_topic(s, s.kafka.topic(DISPATCH))
    ]
    return {"cases": _columns(cases), "dispatches": _columns(orders)}


def _stored_rows(port: int, table: str) -> float:
    """A worker's own count of rows it wrote to ``table`` (its Prometheus metrics)."""
    try:
        return scrape_metric(port, "citystream_rows_stored_total", table=table)
    except OSError:  # the worker's web server is not up yet
        return 0.0


def _settled(client: Client, db: str) -> bool:
    before = _count(client, db, "case_stages")
    time.sleep(3)
    return _count(client, db, "case_stages") == before


def test_outage_kpis_and_replay(
    pipeline_settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    from deploy.local.clickhouse import CLICKHOUSE

    # the links are compared with the raw-feed replay, which knows no closures
    s = pipeline_settings.replace(partitions=2, dedup_closures=False)
    ex = DriverExecutor(clickhouse)
    ensure_topics(s)
    records = list(Simulation("ordinary", seed=5, scale=0.03).records())
    truth = Counter(t.expected_reason for r in records for t in r.truth)
    expected_links = ReplayedFeed.of(records, s).case_of
    worker = WorkerProcess(s, ROLES, free_port(), tmp_path / "worker.log").start()
    try:
        produce_feed(s, records[: len(records) // 2])
        assert wait_until(lambda: _count(clickhouse, ch_database, "links") > 0, 180.0, 1.0)
        CLICKHOUSE.stop(s)  # outage mid-stream
        produce_feed(s, records[len(records) // 2 :])
        time.sleep(5)
        CLICKHOUSE.start(s)
        CLICKHOUSE.wait(s)
        clickhouse.disconnect()
        total = sum(truth.values())

        def stored() -> bool:
            assert worker.alive, worker.log_path.read_text()[-3000:]
            return (
                _count(clickhouse, ch_database, "links")
                + _count(clickhouse, ch_database, "dead_letters")
            ) >= total

        assert wait_until(stored, 240.0, 2.0), worker.log_path.read_text()[-3000:]
        assert wait_until(lambda: _settled(clickhouse, ch_database), 120.0, 0.0)
    finally:
        worker.stop()

    links = dict(clickhouse.execute(f"SELECT event_id, case_id FROM {ch_database}.links FINAL"))
    assert links == expected_links
    reasons = dict(
        clickhouse.execute(
            f"SELECT reason, count() FROM {ch_database}.dead_letters FINAL GROUP BY reason"
        )
    )
    assert reasons == {k: v for k, v in truth.items() if k}
    # a dead letter is stamped with its raw record's arrival, not with when it was refused:
    # the modern schema partitions dead letters by that month (docs/schema.md)
    arrivals = {r.arrival_ms // 1000 for r in records}
    stamped = clickhouse.execute(f"SELECT DISTINCT received_at FROM {ch_database}.dead_letters")
    assert stamped and {int(at.replace(tzinfo=UTC).timestamp()) for (at,) in stamped} <= arrivals

    tables = _python_tables(s)
    units = reference.case_unit_kpis(tables, s.calendar.timezone, int(time.time() * 1000))
    assert_rows_equal(ex.query(f"SELECT * FROM {ch_database}.kpi_units"), units)

    before = _snapshot(ex, ch_database)
    # Replay every topic into the store: a sink-only worker in a new consumer group.
    replay_port = free_port()
    again = WorkerProcess(
        s.replace(app_id=f"{s.worker.app_id}-replay"), "sink", replay_port, tmp_path / "replay.log"
    ).start()
    try:
        # every link row written a second time (all of them duplicates of stored rows)
        assert wait_until(lambda: _stored_rows(replay_port, "links") >= len(links), 180.0, 1.0), (
            tmp_path / "replay.log"
        ).read_text()[-3000:]
    finally:
        again.stop()
    assert _snapshot(ex, ch_database) == before
