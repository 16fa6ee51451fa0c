"""The whole case loop on the real broker and Faust workers, in three topologies (issue 13).

A simulated typhoon day goes through every role of the loop: normalize, dedup, dispatch,
lifecycle, the department desks, the supervisors (who also call hotline callers back) and
escalation, whose clock the test ticks once the loop has answered the whole feed (as the
demo does after each day: ``CITYSTREAM_ESCALATION_CLOCK=feed``).
It runs on 1 partition in 1 worker, on 8 partitions in 3 workers with every role, and on
4 partitions with one process per role (the ClickHouse sink too) where each role in turn
is SIGKILLed and restarted mid-stream. The three must give the same links, case rows,
transitions, verify tasks and escalations, each exactly once per key, and the store must
hold each once: nothing lost, nothing doubled, nothing different.

Closures into dedup are off here (``dedup_closures``): when a closure reaches dedup relative
to the events after its time depends on how fast the loop turns, which differs between
topologies by design (docs/lateness.md, "Closures"; their own test is
test_closures_pipeline.py). Everything else in the loop is a function of the feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_driver import Client
from pipeline_runs import ReplayedFeed, produce_feed, run_settings, start_workers, wait_accounted

from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from streams.app.kafka_admin import ensure_topics
from streams.contracts.clock import is_tick
from streams.contracts.topics import CASE_STATE, ESCALATIONS, TRANSITIONS, VERIFY_TASKS
from streams.runner import (
    WorkerProcess,
    free_port,
    read_links,
    read_topic,
    tick_clock,
    wait_until,
)
from streams.settings import Settings
from streams.simulator import Simulation

pytestmark = pytest.mark.integration

LOOP_ROLES = (
    "normalize",
    "dedup",
    "dispatch",
    "lifecycle",
    "departments",
    "supervisors",
    "escalation",
)
TIMEOUT_S = 480.0  # three runs of the whole loop; a busy 2-core machine needs the slack


@dataclass
class LoopOutput:
    """What a run left on the loop's topics, one record per key (``doubled``: a key seen
    again with a different record)."""

    links: dict[int, int]
    cases: dict[tuple[int, int], dict[str, Any]]  # (case id, version) -> case.state record
    stages: dict[str, dict[str, Any]]  # transition id -> case.transitions record
    tasks: dict[tuple[str, str], dict[str, Any]]  # (task id, status) -> verify.tasks record
    escalations: dict[str, dict[str, Any]]  # escalation id -> case.escalations record
    doubled: list[str]


def _keyed(records: list[dict[str, Any]], key: Any, doubled: list[str], name: str) -> dict:
    out: dict[Any, dict[str, Any]] = {}
    for record in records:
        k = key(record)
        if k in out and out[k] != record:
            doubled.append(f"{name} {k}: {out[k]} then {record}")
        out[k] = record
    return out


def _output(s: Settings) -> LoopOutput:
    def values(topic: str) -> list[dict[str, Any]]:
        records = read_topic(s, s.kafka.topic(topic))
        return [orjson.loads(r.value) for r in records if not is_tick(r.key)]

    doubled: list[str] = []
    links = read_links(s)
    if links.conflicts:
        doubled.append(f"{links.conflicts} events linked to two cases")
    return LoopOutput(
        links.case_of,
        _keyed(values(CASE_STATE), lambda r: (r["case_id"], r["version"]), doubled, "case"),
        _keyed(values(TRANSITIONS), lambda r: r["transition_id"], doubled, "transition"),
        _keyed(values(VERIFY_TASKS), lambda r: (r["task_id"], r["status"]), doubled, "task"),
        _keyed(values(ESCALATIONS), lambda r: r["escalation_id"], doubled, "escalation"),
        doubled,
    )


def _wait_settled(s: Settings, topic: str, at_least: int) -> None:
    """Until the loop has stopped answering: ``topic`` holds ``at_least`` records (a
    restarted role may take a while to recover its table) and did not grow between two
    polls five seconds apart."""
    last = [-1]

    def settled() -> bool:
        n = sum(1 for _ in read_topic(s, s.kafka.topic(topic), timeout_s=2.0))
        done, last[0] = n == last[0] and n >= at_least, n
        return done

    assert wait_until(settled, TIMEOUT_S, 5.0), (
        f"the case loop did not settle: {last[0]} records on {topic}, {at_least} expected"
    )


def _tick_when_settled(s: Settings, feed: ReplayedFeed, stages: int, escalations: int) -> None:
    """Once the loop has answered the whole feed (``stages`` transitions at least), the
    clock ticks at the feed's last arrival; then until the escalations stop coming
    (``escalations`` at least: those of the undisturbed run)."""
    _wait_settled(s, TRANSITIONS, stages)
    tick_clock(s, max(r.arrival_ms for r in feed.records))
    _wait_settled(s, ESCALATIONS, escalations)


def _run(
    s: Settings,
    feed: ReplayedFeed,
    roles: str,
    workers: int,
    tmp_path: Path,
    at_least: tuple[int, int] = (1, 0),
) -> LoopOutput:
    ensure_topics(s)
    procs = start_workers(s, roles, workers, tmp_path)
    try:
        produce_feed(s, feed.records)
        wait_accounted(s, feed.expected_total, procs, tmp_path, TIMEOUT_S)
        _tick_when_settled(s, feed, *at_least)
    finally:
        for p in procs:
            p.stop()
    return _output(s)


def _run_killing_each_role(
    s: Settings, feed: ReplayedFeed, tmp_path: Path, at_least: tuple[int, int]
) -> LoopOutput:
    """One process per role, the sink too; the feed in as many slices as roles, and after
    each slice the next role's process is SIGKILLed (no commit, no flush) and started
    again. Waits for at least the undisturbed run's transitions and escalations."""
    ensure_topics(s)
    roles = (*LOOP_ROLES, "sink")
    procs = {
        role: WorkerProcess(s, role, free_port(), tmp_path / f"worker-{role}.log").start()
        for role in roles
    }
    try:
        n = len(feed.records)
        for i, role in enumerate(roles):
            produce_feed(s, feed.records[i * n // len(roles) : (i + 1) * n // len(roles)])
            assert wait_until(lambda: len(read_links(s).case_of) > 0, TIMEOUT_S, 1.0)
            procs[role].kill()
            procs[role] = WorkerProcess(
                s, role, procs[role].web_port, tmp_path / f"worker-{role}-again.log"
            ).start()
        wait_accounted(s, feed.expected_total, list(procs.values()), tmp_path, TIMEOUT_S)
        _tick_when_settled(s, feed, *at_least)
    finally:
        for p in procs.values():
            p.stop()
    return _output(s)


def _assert_same(run: LoopOutput, one: LoopOutput, when: str) -> None:
    assert not run.doubled, (when, run.doubled[:5])
    assert run.links == one.links, f"links differ {when}"
    assert run.cases == one.cases, f"case rows differ {when}"
    assert run.stages == one.stages, f"transitions differ {when}"
    assert run.tasks == one.tasks, f"verify tasks differ {when}"
    assert run.escalations == one.escalations, f"escalations differ {when}"


def _store_counts(client: Client, db: str) -> dict[str, int]:
    tables = ("links", "cases", "case_stages", "verify_tasks", "escalations")
    return {t: int(client.execute(f"SELECT count() FROM {db}.{t} FINAL")[0][0]) for t in tables}


def _topic_counts(out: LoopOutput) -> dict[str, int]:
    return {
        "links": len(out.links),
        "cases": len({case_id for case_id, _ in out.cases}),
        "case_stages": len(out.stages),
        "verify_tasks": len({task_id for task_id, _ in out.tasks}),
        "escalations": len(out.escalations),
    }


def test_the_loop_is_the_same_in_every_topology_and_after_killing_each_role(
    settings: Settings, topic_name: str, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    base = settings.replace(dedup_closures=False, escalation_clock="feed")
    records = list(Simulation("typhoon", seed=13, scale=0.01).records())
    roles = ",".join(LOOP_ROLES)

    single = run_settings(base, f"{topic_name}-a", partitions=1)
    feed = ReplayedFeed.of(records, single)
    one = _run(single, feed, roles, 1, tmp_path / "one")
    assert not one.doubled, one.doubled[:5]
    assert one.links == feed.case_of
    assert len(one.tasks) > 20 and any(k[1] == "failed" for k in one.tasks)
    assert {r["action"] for r in one.stages.values()} >= {"dispatch", "handle", "verify_ok"}
    assert {r["level"] for r in one.escalations.values()} >= {"remind", "supervise"}
    settled = (len(one.stages), len(one.escalations))

    eight = _run(
        run_settings(base, f"{topic_name}-b", partitions=8),
        feed,
        roles,
        3,
        tmp_path / "eight",
        at_least=settled,
    )
    _assert_same(eight, one, "between 1x1 and 8x3")

    stored = run_settings(base, f"{topic_name}-c", partitions=4, clickhouse_database=ch_database)
    migrate(DriverExecutor(clickhouse), ch_database, stored.calendar.timezone)
    killed = _run_killing_each_role(
        stored,
        feed,
        tmp_path / "killed",
        settled,
    )
    _assert_same(killed, one, "after the SIGKILLs")
    # and the store holds each once: what the sink wrote, killed and restarted too
    want = _topic_counts(one)
    assert wait_until(lambda: _store_counts(clickhouse, ch_database) == want, 60.0, 2.0), (
        _store_counts(clickhouse, ch_database),
        want,
    )
