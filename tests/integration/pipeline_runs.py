"""Streaming runs checked against the offline replay, for the integration tests.

The settings of one test's run (its own topics and consumer groups), a simulated feed
beside what the replay makes of it, worker processes, and the wait until every raw record
is accounted for: linked to a case, or dead-lettered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from streams.app.kafka_admin import ensure_topics
from streams.replay import RawInput, replay
from streams.runner import (
    LinkSet,
    WorkerProcess,
    count_dead_letters,
    free_port,
    produce_records,
    read_links,
    wait_until,
)
from streams.settings import Settings
from streams.simulator import SimRecord

__all__ = [
    "ReplayedFeed",
    "accounted",
    "check_against_replay",
    "produce_feed",
    "raw_inputs",
    "run_feed",
    "run_settings",
    "start_workers",
    "wait_accounted",
]


def run_settings(base: Settings, topic_name: str, **changes: Any) -> Settings:
    """The settings of one test's run: topics and consumer groups named after ``topic_name``
    (the ``topic_name`` fixture deletes them after the test)."""
    return base.replace(topic_prefix=f"{topic_name}.", app_id=f"{topic_name}-app", **changes)


def raw_inputs(records: Iterable[SimRecord]) -> list[RawInput]:
    """Simulated records as the offline replay takes them."""
    return [RawInput(r.source, r.value, r.arrival_ms) for r in records]


def produce_feed(s: Settings, records: Iterable[SimRecord]) -> int:
    """Send simulated records to the run's raw topics, in order."""
    return produce_records(s, ((r.source, r.key, r.value, r.arrival_ms) for r in records))


@dataclass(frozen=True)
class ReplayedFeed:
    """Simulated records and what the offline replay makes of them."""

    records: list[SimRecord]
    links: list[dict[str, Any]]  # the replay's link records
    bad: Counter[str]  # expected dead letters by reason (the simulator's truth)

    @classmethod
    def of(cls, records: Sequence[SimRecord], settings: Settings) -> ReplayedFeed:
        result = replay(raw_inputs(records), settings)
        bad = Counter(t.expected_reason for r in records for t in r.truth if t.expected_reason)
        return cls(list(records), result.links, bad)

    @cached_property
    def case_of(self) -> dict[int, int]:
        return {link["event_id"]: link["case_id"] for link in self.links}

    @cached_property
    def flags(self) -> dict[int, int]:
        return {link["event_id"]: link["flags"] for link in self.links}

    @property
    def expected_total(self) -> int:
        return len(self.case_of) + sum(self.bad.values())

    def count(self, bit: int) -> int:
        """Links whose flags carry ``bit``."""
        return sum(1 for f in self.flags.values() if f & bit)


def accounted(s: Settings) -> int:
    """Raw records the run has accounted for so far: events linked, plus dead letters."""
    return len(read_links(s).case_of) + sum(count_dead_letters(s).values())


def start_workers(s: Settings, roles: str, n: int, tmp_path: Path) -> list[WorkerProcess]:
    return [
        WorkerProcess(s, roles, free_port(), tmp_path / f"worker{i}.log").start() for i in range(n)
    ]


def wait_accounted(
    s: Settings,
    total: int,
    workers: Sequence[WorkerProcess],
    tmp_path: Path,
    timeout_s: float,
    stored: Callable[[], bool] = lambda: True,
) -> None:
    """Wait until ``total`` records are accounted for and ``stored`` holds; a worker that
    dies fails at once, with its log."""

    def check_alive() -> None:
        dead = [w.log_path for w in workers if not w.alive]
        assert not dead, f"worker died: {dead}: {dead[0].read_text()[-3000:]}"

    finished = wait_until(lambda: accounted(s) >= total and stored(), timeout_s, 2.0, check_alive)
    logs = "\n".join(p.read_text()[-2000:] for p in tmp_path.glob("worker*.log"))
    assert finished, f"pipeline did not account for every record in time\n{logs}"


def check_against_replay(s: Settings, feed: ReplayedFeed, *, flags: bool = False) -> LinkSet:
    """The run's links are the replay's (and their flags, with ``flags``); every bad record
    is dead-lettered with the reason the truth expects."""
    links = read_links(s)
    assert links.conflicts == 0, "an event was linked to two different cases"
    assert links.case_of == feed.case_of, "cases differ from the offline replay"
    if flags:
        assert links.flags == feed.flags, "late / beyond-state flags differ from the replay"
    assert Counter(count_dead_letters(s)) == feed.bad
    return links


def run_feed(
    s: Settings,
    feed: ReplayedFeed,
    roles: str,
    workers: int,
    tmp_path: Path,
    *,
    timeout_s: float,
    stored: Callable[[], bool] = lambda: True,
    flags: bool = False,
    while_running: Callable[[list[WorkerProcess]], None] = lambda _procs: None,
) -> LinkSet:
    """Create the run's topics, start ``workers`` processes with ``roles``, feed the records
    and wait until all are accounted for (:func:`wait_accounted`); ``while_running`` checks
    the workers before they stop. Then :func:`check_against_replay`."""
    ensure_topics(s)
    procs = start_workers(s, roles, workers, tmp_path)
    try:
        produce_feed(s, feed.records)
        wait_accounted(s, feed.expected_total, procs, tmp_path, timeout_s, stored)
        while_running(procs)
    finally:
        for w in procs:
            w.stop()
    return check_against_replay(s, feed, flags=flags)
