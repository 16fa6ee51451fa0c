"""Escalation live: real broker, ClickHouse and worker processes. A typhoon slice runs
through the pipeline with the department and supervisor desks (some cases handled late);
the escalation worker raises 催办/督办 and up the ladder, is SIGKILLed mid-stream and
restarted, and no case is escalated twice at a level. The escalations land in ClickHouse
once per id, are exactly those of the ladder run offline over the case.state topic, and
kpi_escalations matches the Python KPI."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_driver import Client

from sinks import reference
from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from streams.app.escalation_agent import EscalationStep
from streams.app.kafka_admin import ensure_topics
from streams.cases.escalation import Ladder, apply_changes, on_clock, on_record
from streams.contracts.clock import CLOCK_KEY, tick_value
from streams.contracts.topics import CASE_STATE, ESCALATIONS
from streams.runner import (
    WorkerProcess,
    free_port,
    produce_records,
    read_topic,
    scrape_metric,
    tick_clock,
    wait_until,
)
from streams.settings import Settings
from streams.simulator import Simulation

pytestmark = pytest.mark.integration

PIPELINE = "normalize,dedup,dispatch,lifecycle,departments,supervisors,sink"
LEVELS = ("remind", "supervise", "department_head", "district_leader")
TIMEOUT_S = 300.0


def _records(s: Settings, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in read_topic(s, s.kafka.topic(topic), timeout_s=2.0)]


def _expected(s: Settings) -> dict[str, dict[str, Any]]:
    """The escalations the case.state topic calls for: each partition's records and clock
    ticks through the ladder in order, once, offline (each case and level at most once
    there too)."""
    step = EscalationStep.from_settings(s)
    entries: dict[int, dict[bytes, dict[str, Any]]] = defaultdict(dict)
    remembered: dict[int, dict[bytes, dict[str, Any]]] = defaultdict(dict)
    out: dict[str, dict[str, Any]] = {}
    for message in read_topic(s, s.kafka.topic(CASE_STATE), timeout_s=2.0):
        p = message.partition
        changes, rejected = step.record(entries[p], message.key, message.value, p, remembered[p])
        assert rejected is None, rejected
        for r in apply_changes(entries[p], remembered[p], changes):
            assert r["escalation_id"] not in out, r
            out[r["escalation_id"]] = r
    return out


def test_escalations_once_per_level_across_a_crash(
    settings: Settings, topic_name: str, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    s = settings.replace(
        topic_prefix=f"{topic_name}.",
        app_id=f"{topic_name}-app",
        clickhouse_database=ch_database,
        escalation_clock="feed",
    )
    ex = DriverExecutor(clickhouse)
    migrate(ex, ch_database, s.calendar.timezone)
    ensure_topics(s)
    feed = [
        (r.source, r.key, r.value, r.arrival_ms)
        for r in Simulation("typhoon", seed=11, scale=0.01).records()
    ]
    pipeline = WorkerProcess(s, PIPELINE, free_port(), tmp_path / "pipeline.log").start()
    escalation = WorkerProcess(s, "escalation", free_port(), tmp_path / "escalation.log")
    escalation.start()
    progress: list[tuple[int, int]] = []  # open cases, escalations not raised yet

    def alive() -> None:
        assert pipeline.alive, pipeline.log_path.read_text()[-3000:]
        assert escalation.alive, escalation.log_path.read_text()[-3000:]

    def settled() -> bool:
        """Every case closed, and every escalation the case.state records call for raised
        (the restarted worker rejoins only once the killed member's session ends)."""
        alive()
        ((open_cases,),) = clickhouse.execute(
            f"SELECT count() FROM {ch_database}.cases FINAL "
            "WHERE dispatched_at > 0 AND status NOT IN ('closed', 'voided')"
        )
        raised = {r["escalation_id"] for r in _records(s, ESCALATIONS)}
        missing = set(_expected(s)) - raised
        progress.append((open_cases, len(missing)))
        return open_cases == 0 and not missing

    try:
        half = len(feed) // 2
        produce_records(s, feed[:half])
        # the clock ticks at the half's last arrival while the loop is still answering
        # (ticks mid-stream: levels of cases whose feedback is not in yet)
        assert wait_until(lambda: len(_records(s, CASE_STATE)) > 0, TIMEOUT_S, 1.0, alive)
        tick_clock(s, max(r[3] for r in feed[:half]))
        assert wait_until(lambda: len(_records(s, ESCALATIONS)) > 0, TIMEOUT_S, 1.0, alive), (
            escalation.log_path.read_text()[-3000:]
        )
        escalation.kill()  # no commit, no flush: the table comes back from its changelog
        at_kill = len(_records(s, ESCALATIONS))
        produce_records(s, feed[half:])
        escalation = WorkerProcess(s, "escalation", free_port(), tmp_path / "restarted.log")
        escalation.start()
        tick_clock(s, max(r[3] for r in feed))
        assert wait_until(settled, TIMEOUT_S, 2.0), (
            progress[-3:],
            escalation.log_path.read_text()[-3000:],
        )
        sent = _records(s, ESCALATIONS)
        query = f"SELECT count() FROM {ch_database}.escalations FINAL"
        assert wait_until(lambda: clickhouse.execute(query) == [(len(sent),)], 60.0, 1.0)
        counted = sum(
            scrape_metric(escalation.web_port, "citystream_escalations_total", level=level)
            for level in LEVELS
        )
    finally:
        escalation.stop()
        pipeline.stop()

    # each case and level once on the topic, across the crash and the restart
    ids = Counter(r["escalation_id"] for r in sent)
    assert [i for i, n in ids.items() if n > 1] == []
    assert counted == len(sent) - at_kill > 0  # the restarted worker's own, in /metrics
    levels = Counter(r["level"] for r in sent)
    assert levels["remind"] and levels["supervise"], levels
    # stored once per id
    rows = clickhouse.execute(
        f"SELECT escalation_id, toUnixTimestamp(escalated_at) FROM {ch_database}.escalations FINAL"
    )
    got = dict(rows)
    assert set(got) == set(ids)
    # the same escalations as the offline run over the same case.state records
    expected = _expected(s)
    assert set(got) == set(expected)
    assert all(got[i] == expected[i]["escalated_at"] // 1000 for i in expected)
    print(f"escalations: {dict(levels)}")

    # kpi_escalations equals the Python KPI over the topic's records
    columns: dict[str, list[Any]] = defaultdict(list)
    for r in sent:
        for k, v in r.items():
            columns[k].append(v)
    want = reference.escalations({"escalations": columns}, s.calendar.timezone)
    view = ex.query(f"SELECT * FROM {ch_database}.kpi_escalations")
    kpi = {(r["period"], r["period_start"], r["department"], r["level"]): r for r in view}
    assert set(kpi) == set(want)
    assert all(kpi[k]["escalations"] == w["escalations"] for k, w in want.items())


def _produce(s: Settings, *records: tuple[str, bytes, bytes, int]) -> None:
    """``(topic, key, value, partition)`` records, in order, acknowledged."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap_servers, acks="all")
    try:
        for topic, key, value, partition in records:
            producer.send(s.kafka.topic(topic), key=key, value=value, partition=partition)
        producer.flush(30)
    finally:
        producer.close(30)


def _wait_for_every_level(s: Settings, worker: WorkerProcess) -> None:
    assert wait_until(lambda: len(_records(s, ESCALATIONS)) >= len(LEVELS), TIMEOUT_S, 1.0), (
        worker.log_path.read_text()[-3000:]
    )


def _case_state(case_id: int, dispatched_at: int, deadline: int) -> dict[str, Any]:
    """A case.state row of a case just dispatched."""
    return {
        "case_id": case_id,
        "version": 1 << 32,
        "category_key": "E0102",
        "department": "sanitation",
        "grid_code": "410611001001001",
        "street": "410611001",
        "status": "dispatched",
        "opened_at": dispatched_at - 3_600_000,
        "dispatched_at": dispatched_at,
        "deadline": deadline,
        "signed_at": 0,
        "handled_at": 0,
        "closed_at": 0,
        "voided_at": 0,
        "hold_s": 0,
    }


def test_escalations_a_dead_worker_sent_are_not_sent_again(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    """A worker that died after sending some escalations of a record, before its journal
    said so: its successor reads them back from the topic and sends only the rest. Here
    the dead worker's sends are produced by hand (two of the four levels a case dispatched
    after its deadline reaches at the clock's next tick), with no journal and no committed
    offset."""
    s = settings.replace(
        topic_prefix=f"{topic_name}.", app_id=f"{topic_name}-app", escalation_clock="feed"
    )
    ensure_topics(s)
    key, record = b"7", _case_state(7, 1_690_765_200_000, 1_690_765_200_000 - 3_600_000)
    ladder, entries = Ladder.from_settings(s), {}
    apply_changes(entries, {}, on_record(ladder, {}, key, record))
    now = record["dispatched_at"]
    raised = apply_changes(entries, {}, on_clock(ladder, entries, now, 3_600_000))
    assert [r["level"] for r in raised] == list(LEVELS)
    _produce(
        s,
        *((ESCALATIONS, key, orjson.dumps(r), 0) for r in raised[:2]),  # the dead worker's
        (CASE_STATE, key, orjson.dumps(record), 0),
        (CASE_STATE, CLOCK_KEY, tick_value(now), 0),
    )
    worker = WorkerProcess(s, "escalation", free_port(), tmp_path / "escalation.log").start()
    try:
        _wait_for_every_level(s, worker)
        sent_here = sum(
            scrape_metric(worker.web_port, "citystream_escalations_total", level=level)
            for level in LEVELS
        )
    finally:
        worker.stop()
    ids = Counter(r["escalation_id"] for r in _records(s, ESCALATIONS))
    assert ids == Counter(r["escalation_id"] for r in raised)  # each level once
    assert sent_here == 2


def test_with_the_wall_clock_the_workers_tick_it(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    """Live operation: the escalation worker ticks the wall clock into every partition of
    case.state, and an overdue case nobody touches climbs the whole ladder."""
    s = settings.replace(
        topic_prefix=f"{topic_name}.",
        app_id=f"{topic_name}-app",
        partitions=2,
        escalation_clock="wall",
        escalation_tick_s=1.0,
    )
    ensure_topics(s)
    record = _case_state(8, 1_690_765_200_000, 1_690_765_200_000 + 3_600_000)
    _produce(s, (CASE_STATE, b"8", orjson.dumps(record), 1))
    worker = WorkerProcess(s, "escalation", free_port(), tmp_path / "escalation.log").start()
    try:
        _wait_for_every_level(s, worker)
    finally:
        worker.stop()
    assert sorted(r["level"] for r in _records(s, ESCALATIONS)) == sorted(LEVELS)
    ticks = [m for m in read_topic(s, s.kafka.topic(CASE_STATE)) if m.key == CLOCK_KEY]
    assert {m.partition for m in ticks} == {0, 1}
