"""The patrol track feed on the real broker: the simulator's batches go to raw.patrol_track
through the producer path, come back in order keyed by device, and intake (judging each batch
by its Kafka timestamp and origin) gives every ping what the simulator's truth says."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from streams.app.kafka_admin import ensure_topics
from streams.contracts.topics import PATROL_TRACK, RAW_TOPICS
from streams.intake.tracks import TrackIntake
from streams.runner import produce_records, read_topic
from streams.settings import Settings
from streams.simulator import Simulation, TrackRecord
from tests.integration.pipeline_runs import run_settings

pytestmark = pytest.mark.integration


def test_track_batches_round_trip_and_reconcile_ping_by_ping(
    settings: Settings, topic_name: str
) -> None:
    s = run_settings(settings, topic_name, partitions=1)
    feed = list(Simulation("ordinary", seed=9, scale=0.01, days=1, bad_share=0.02).feed())
    batches = [r for r in feed if isinstance(r, TrackRecord)]
    assert len(batches) > 1000
    ensure_topics(s)
    sent = produce_records(s, ((r.source, r.key, r.value, r.arrival_ms) for r in feed))
    assert sent == len(feed)

    back = list(read_topic(s, s.kafka.topic(PATROL_TRACK)))
    assert [(m.key, m.value, m.timestamp) for m in back] == [
        (b.key, b.value, b.arrival_ms) for b in batches
    ]
    reports = sum(1 for _ in read_topic(s, s.kafka.topic(RAW_TOPICS["patrol"])))
    assert reports == sum(1 for r in feed if r.source == "patrol")

    intake = TrackIntake.from_settings(s)
    result = intake.parse(
        [m.value for m in back],
        ingest_ms=[m.timestamp for m in back],
        origins=[(m.partition, m.offset) for m in back],
    )
    got: dict[tuple[int, int], str] = {}
    for d in result.dead_letters:
        m = re.match(r"points\[(\d+)\]: ", d.message)
        got[(back[d.index].offset, int(m.group(1)) if m else -1)] = d.reason.value
    for p in result.points.points:
        got[(int(p["origin_seq"]) - 1, int(p["origin_point"]))] = ""
    expected = {
        (t.source_seq, -1 if t.whole_batch else t.point): t.expected_reason
        for b in batches
        for t in b.truth
    }
    assert got == expected
    assert Counter(expected.values())[""] == len(result.points) > 10_000
