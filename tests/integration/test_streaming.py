"""The streaming app on the real broker with real Faust worker processes.

Every run is compared with the offline replay of the same feed (the functional core run
without Kafka): the same event-to-case links, every bad record dead-lettered, whatever
the partitions, the workers, a SIGKILL or a broker restart.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.app.kafka_admin import ensure_topics
from streams.replay import RawInput, replay
from streams.runner import (
    LinkSet,
    WorkerProcess,
    count_dead_letters,
    free_port,
    produce_records,
    read_links,
    scrape_metric,
    wait_until,
)
from streams.settings import PipelineSettings, Settings
from streams.simulator import SimRecord, Simulation

pytestmark = pytest.mark.integration

ROLES = "normalize,dedup"
TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Feed:
    records: list[SimRecord]
    case_of: dict[int, int]  # the replay's event -> case
    bad: Counter[str]  # expected dead letters by reason

    @property
    def expected_total(self) -> int:
        return len(self.case_of) + sum(self.bad.values())


@pytest.fixture(scope="module")
def feed(settings: Settings) -> Feed:
    records = list(Simulation("ordinary", seed=7, scale=0.04).records())
    result = replay([RawInput(r.source, r.value, r.arrival_ms) for r in records], settings)
    bad = Counter(t.expected_reason for r in records for t in r.truth if t.expected_reason)
    assert sum(bad.values()) >= 15 and len(bad) >= 15, "the feed must carry bad records"
    return Feed(records, {link["event_id"]: link["case_id"] for link in result.links}, bad)


def _settings(base: Settings, prefix: str, partitions: int) -> Settings:
    return base.replace(topic_prefix=f"{prefix}.", app_id=f"{prefix}-app", partitions=partitions)


def _produce(settings: Settings, records: list[SimRecord]) -> None:
    produce_records(settings, ((r.source, r.key, r.value, r.arrival_ms) for r in records))


def _done(settings: Settings, feed: Feed) -> bool:
    links = read_links(settings)
    return len(links.case_of) + sum(count_dead_letters(settings).values()) >= feed.expected_total


def _workers(settings: Settings, n: int, tmp_path: Path) -> list[WorkerProcess]:
    return [
        WorkerProcess(settings, ROLES, free_port(), tmp_path / f"worker{i}.log").start()
        for i in range(n)
    ]


def _wait(settings: Settings, feed: Feed, workers: list[WorkerProcess], tmp_path: Path) -> None:
    def check_alive() -> None:
        dead = [w.log_path for w in workers if not w.alive]
        assert not dead, f"worker died: {dead}: {dead[0].read_text()[-3000:]}"

    finished = wait_until(lambda: _done(settings, feed), TIMEOUT_S, 2.0, check_alive)
    logs = "\n".join(p.read_text()[-2000:] for p in tmp_path.glob("worker*.log"))
    assert finished, f"pipeline did not account for every record in time\n{logs}"


def _check(settings: Settings, feed: Feed) -> LinkSet:
    links = read_links(settings)
    assert links.conflicts == 0, "an event was linked to two different cases"
    assert links.case_of == feed.case_of, "cases differ from the offline replay"
    assert Counter(count_dead_letters(settings)) == feed.bad
    return links


def _run(settings: Settings, feed: Feed, workers: int, tmp_path: Path) -> LinkSet:
    ensure_topics(settings)
    procs = _workers(settings, workers, tmp_path)
    try:
        _produce(settings, feed.records)
        _wait(settings, feed, procs, tmp_path)
        # Faust's fetcher must still take our inline hand-off (streams/app/faust_internals.py):
        # a Faust whose wait_first changed shape would quietly fall back to the slow path.
        inline = sum(
            scrape_metric(w.web_port, "citystream_faust_handoffs", path="inline") for w in procs
        )
        assert inline >= len(feed.records) // 2, f"only {inline} inline hand-offs"
    finally:
        for w in procs:
            w.stop()
    return _check(settings, feed)


def test_one_partition_one_worker_matches_replay(
    settings: Settings, topic_name: str, feed: Feed, tmp_path: Path
) -> None:
    links = _run(_settings(settings, topic_name, 1), feed, 1, tmp_path)
    assert len(links.cases) < len(links.case_of)  # duplicates were merged


def test_eight_partitions_three_workers_give_identical_cases(
    settings: Settings, topic_name: str, feed: Feed, tmp_path: Path
) -> None:
    _run(_settings(settings, topic_name, 8), feed, 3, tmp_path)


@pytest.mark.parametrize(
    "part_bytes",
    [PipelineSettings.changelog_part_bytes, 1024],
    ids=["whole-tile-records", "tile-records-in-parts"],
)
def test_sigkill_mid_stream_loses_nothing(
    settings: Settings, topic_name: str, feed: Feed, tmp_path: Path, part_bytes: int
) -> None:
    # with 1 KiB parts every tile record is split: the restarted worker must read its
    # state back from parts and manifests written by the killed one
    s = _settings(settings, topic_name, 2).replace(changelog_part_bytes=part_bytes)
    ensure_topics(s)
    _produce(s, feed.records)
    first = _workers(s, 1, tmp_path)[0]
    assert wait_until(lambda: len(read_links(s).case_of) > 0, TIMEOUT_S, 0.05)
    first.kill()  # mid-stream: no commit, no flush of what it was doing
    linked_before_kill = len(read_links(s).case_of)
    assert linked_before_kill < len(feed.case_of), "the kill came after the work was done"
    second = WorkerProcess(s, ROLES, first.web_port, tmp_path / "worker-restarted.log").start()
    try:
        _wait(s, feed, [second], tmp_path)
    finally:
        second.stop()
    _check(s, feed)


def test_broker_restart_mid_stream_loses_nothing(
    settings: Settings, topic_name: str, feed: Feed, tmp_path: Path
) -> None:
    from deploy.local.kafka import KAFKA

    s = _settings(settings, topic_name, 2)
    ensure_topics(s)
    procs = _workers(s, 1, tmp_path)
    try:
        half = len(feed.records) // 2
        _produce(s, feed.records[:half])
        assert wait_until(lambda: len(read_links(s).case_of) > 100, TIMEOUT_S, 1.0)
        KAFKA.stop(settings)
        time.sleep(2)
        KAFKA.start(settings)
        KAFKA.wait(settings)
        _produce(s, feed.records[half:])
        _wait(s, feed, procs, tmp_path)
    finally:
        for w in procs:
            w.stop()
    _check(s, feed)
