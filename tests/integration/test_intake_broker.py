"""Intake on the real broker: a mixed feed with bad records of every kind, record by record.

Every good report must reach ``events.fused`` (as an event with its stable id), every bad
record must reach the dead-letter topic with the reason the simulator's truth expects,
pointing at its own topic and offset, and the counts must reconcile exactly.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from streams.app.kafka_admin import ensure_topics
from streams.contracts.fused import decode_batch, event_id_for
from streams.contracts.topics import DEADLETTER, FUSED, RAW_TOPICS
from streams.contracts.watermarks import is_watermark_frame
from streams.runner import WorkerProcess, free_port, read_topic, wait_until
from streams.settings import Settings
from streams.simulator import Simulation
from tests.integration.pipeline_runs import produce_feed, run_settings

pytestmark = pytest.mark.integration


def _fused_ids(settings: Settings) -> Counter[int]:
    ids: Counter[int] = Counter()
    for record in read_topic(settings, settings.kafka.topic(FUSED)):
        if is_watermark_frame(record.value):
            continue
        ids.update(decode_batch(record.value).events["event_id"].tolist())
    return ids


def _dead(settings: Settings) -> dict[tuple[str, int], list[str]]:
    """Reasons per raw (topic, offset); a re-sent gateway batch has one per alarm."""
    out: dict[tuple[str, int], list[str]] = {}
    for record in read_topic(settings, settings.kafka.topic(DEADLETTER)):
        letter = orjson.loads(record.value)
        out.setdefault((letter["topic"], letter["offset"]), []).append(letter["reason"])
    return {k: sorted(v) for k, v in out.items()}


def test_mixed_feed_reconciles_record_by_record(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    s = run_settings(settings, topic_name, partitions=1)
    records = list(Simulation("typhoon", seed=11, scale=0.02, bad_share=0.02).records())
    truth = [t for r in records for t in r.truth]
    bad = [t for t in truth if t.expected_reason]
    assert len(bad) >= 0.01 * len(records)
    assert len({t.expected_reason for t in bad}) >= 15
    good_ids = {event_id_for(t.source, t.source_ref) for t in truth if not t.expected_reason}
    expected_dead: dict[tuple[str, int], list[str]] = {}
    for t in bad:
        key = (s.kafka.topic(RAW_TOPICS[t.source]), t.source_seq)
        expected_dead[key] = sorted([*expected_dead.get(key, []), t.expected_reason])

    ensure_topics(s)
    worker = WorkerProcess(s, "normalize", free_port(), tmp_path / "worker.log").start()
    try:
        produce_feed(s, records)

        def reconciled() -> bool:
            assert worker.alive, worker.log_path.read_text()[-3000:]
            # halo copies repeat an event in neighbour tiles: count distinct ids
            n_dead = sum(len(v) for v in _dead(s).values())
            return len(set(_fused_ids(s))) + n_dead >= len(good_ids) + len(bad)

        assert wait_until(reconciled, 180.0, 2.0), worker.log_path.read_text()[-3000:]
    finally:
        worker.stop()

    assert set(_fused_ids(s)) == good_ids
    dead = _dead(s)
    assert dead == expected_dead
    assert len(good_ids) + sum(len(v) for v in dead.values()) == len(truth)


def test_topics_are_ready_when_ensure_topics_returns(settings: Settings, topic_name: str) -> None:
    """ensure_topics returns once every partition of every pipeline topic has a leader: a
    producer right after it is not held back retrying NotLeaderForPartition (seconds on a
    loaded machine, long enough for a worker to take a raw partition for idle)."""
    from kafka import KafkaAdminClient

    from streams.contracts.topics import ALL_TOPICS

    s = run_settings(settings, topic_name, partitions=3)
    ensure_topics(s)
    admin = KafkaAdminClient(**s.kafka.client_options(), client_id="citystream-test")
    try:
        described = admin.describe_topics([s.kafka.topic(t) for t in ALL_TOPICS])
    finally:
        admin.close()
    partitions = [p for d in described for p in d["partitions"]]
    assert len(partitions) == 3 * len(ALL_TOPICS)
    assert all(p["leader_id"] >= 0 and not p["error_code"] for p in partitions), partitions
