"""The streaming app on the real broker with real Faust worker processes.

Every run is compared with the offline replay of the same feed (the functional core run
without Kafka): the same event-to-case links, every bad record dead-lettered, whatever
the partitions, the workers, a SIGKILL or a broker restart.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from clickhouse_driver import Client

from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from streams.app.kafka_admin import ensure_topics
from streams.runner import LinkSet, WorkerProcess, read_links, scrape_metric, wait_until
from streams.settings import PipelineSettings, Settings
from streams.simulator import Simulation
from tests.integration.pipeline_runs import (
    ReplayedFeed,
    check_against_replay,
    produce_feed,
    run_feed,
    run_settings,
    start_workers,
    wait_accounted,
)

pytestmark = pytest.mark.integration

ROLES = "normalize,dedup"
TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def feed(settings: Settings) -> ReplayedFeed:
    records = list(Simulation("ordinary", seed=7, scale=0.04).records())
    feed = ReplayedFeed.of(records, settings)
    assert sum(feed.bad.values()) >= 15 and len(feed.bad) >= 15, "the feed must carry bad records"
    return feed


def _wait(s: Settings, feed: ReplayedFeed, workers: list[WorkerProcess], tmp_path: Path) -> None:
    wait_accounted(s, feed.expected_total, workers, tmp_path, TIMEOUT_S)


def _run(s: Settings, feed: ReplayedFeed, workers: int, tmp_path: Path) -> LinkSet:
    def bulk_handoffs(procs: list[WorkerProcess]) -> None:
        # Faust's fetcher must still hand the raw records and the fused messages over in
        # bulk (streams/app/faust_internals/): a Faust whose fetch changed shape would
        # quietly fall back to a Faust event per message (the inline hand-off of the
        # per-message topics is checked in test_closures_pipeline.py)
        def handoffs(path: str) -> float:
            metric = "citystream_faust_handoffs_total"
            return sum(scrape_metric(w.web_port, metric, path=path) for w in procs)

        bulk, inline, task = handoffs("bulk"), handoffs("inline"), handoffs("task")
        assert bulk > len(feed.records), f"{bulk} records in bulk, {len(feed.records)} raw"
        assert inline + task == 0, f"{inline} + {task} messages went Faust's per-message way"

    return run_feed(
        s, feed, ROLES, workers, tmp_path, timeout_s=TIMEOUT_S, while_running=bulk_handoffs
    )


def test_one_partition_one_worker_matches_replay(
    settings: Settings, topic_name: str, feed: ReplayedFeed, tmp_path: Path
) -> None:
    links = _run(run_settings(settings, topic_name, partitions=1), feed, 1, tmp_path)
    assert len(links.cases) < len(links.case_of)  # duplicates were merged


def test_eight_partitions_three_workers_give_identical_cases(
    settings: Settings, topic_name: str, feed: ReplayedFeed, tmp_path: Path
) -> None:
    _run(run_settings(settings, topic_name, partitions=8), feed, 3, tmp_path)


@pytest.mark.parametrize(
    "part_bytes",
    [PipelineSettings.changelog_part_bytes, 1024],
    ids=["whole-tile-records", "tile-records-in-parts"],
)
def test_sigkill_mid_stream_loses_nothing(
    settings: Settings, topic_name: str, feed: ReplayedFeed, tmp_path: Path, part_bytes: int
) -> None:
    # with 1 KiB parts every tile record is split: the restarted worker must read its
    # state back from parts and manifests written by the killed one
    s = run_settings(settings, topic_name, partitions=2, changelog_part_bytes=part_bytes)
    ensure_topics(s)
    produce_feed(s, feed.records)
    first = start_workers(s, ROLES, 1, tmp_path)[0]
    assert wait_until(lambda: len(read_links(s).case_of) > 0, TIMEOUT_S, 0.05)
    first.kill()  # mid-stream: no commit, no flush of what it was doing
    linked_before_kill = len(read_links(s).case_of)
    assert linked_before_kill < len(feed.case_of), "the kill came after the work was done"
    second = WorkerProcess(s, ROLES, first.web_port, tmp_path / "worker-restarted.log").start()
    try:
        _wait(s, feed, [second], tmp_path)
    finally:
        second.stop()
    check_against_replay(s, feed)


def test_broker_restart_mid_stream_loses_nothing(
    settings: Settings, topic_name: str, feed: ReplayedFeed, tmp_path: Path
) -> None:
    from deploy.local.kafka import KAFKA

    s = run_settings(settings, topic_name, partitions=2)
    ensure_topics(s)
    procs = start_workers(s, ROLES, 1, tmp_path)
    try:
        half = len(feed.records) // 2
        produce_feed(s, feed.records[:half])
        assert wait_until(lambda: len(read_links(s).case_of) > 100, TIMEOUT_S, 1.0)
        KAFKA.stop(settings)
        time.sleep(2)
        KAFKA.start(settings)
        KAFKA.wait(settings)
        produce_feed(s, feed.records[half:])
        _wait(s, feed, procs, tmp_path)
    finally:
        for w in procs:
            w.stop()
    check_against_replay(s, feed)


def test_malformed_fused_frames_are_dead_lettered_and_the_rest_goes_on(
    settings: Settings,
    topic_name: str,
    feed: ReplayedFeed,
    clickhouse: Client,
    ch_database: str,
    tmp_path: Path,
) -> None:
    """A foreign producer writes garbage into events.fused (a frame of another format, a
    key that is not a tile, a cut closure frame): each is dead-lettered ``malformed_frame``
    by dedup, the sink skips it, and every valid report is still linked as the replay does."""
    from kafka import KafkaProducer

    from streams.contracts.closures import Closure, encode_closures
    from streams.contracts.topics import FUSED
    from streams.runner import count_dead_letters

    s = run_settings(settings, topic_name, partitions=2, clickhouse_database=ch_database)
    migrate(DriverExecutor(clickhouse), ch_database, s.calendar.timezone)
    ensure_topics(s)
    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap_servers, acks="all")
    cut = encode_closures([Closure(1_700_000_000_000, 1)])[:-3]
    try:
        for key, value in ((b"7", b"not a frame"), (b"tile?", b"CSFB"), (b"7", cut)):
            producer.send(s.kafka.topic(FUSED), key=key, value=value, partition=0)
        producer.flush(30)
    finally:
        producer.close(30)
    workers = start_workers(s, f"{ROLES},sink", 1, tmp_path)
    try:
        produce_feed(s, feed.records)
        total = feed.expected_total + 3
        events = f"SELECT count() FROM {ch_database}.events FINAL"
        wait_accounted(
            s,
            total,
            workers,
            tmp_path,
            TIMEOUT_S,
            stored=lambda: clickhouse.execute(events) == [(len(feed.case_of),)],
        )
    finally:
        for w in workers:
            w.stop()
    dead = count_dead_letters(s)
    assert dead.pop("malformed_frame") == 3
    assert read_links(s).case_of == feed.case_of
    assert dead == dict(feed.bad)
