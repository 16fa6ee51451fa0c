"""A simulated day normalized offline into the messages the normalize role would send.

The fused-path benchmark times the dedup role alone, so its input is prepared outside the
measurement: the day's raw records are normalized in the same per-source batches the
normalize agent takes (``batch_max_events``), each batch is routed to tiles (home tile and
halo copies, one message per tile) and followed by a watermark frame for its raw
partition, exactly as ``normalize_agent._send_tiles`` / ``_send_watermarks`` do; the day
ends with an idle frame for every raw partition so that every event is released.

Batches go out in the order of their first record's arrival: a catch-up, where each
normalizer reads its topic as fast as it can and the sparse hotline and patrol topics
(one batch each for a day) report their watermarks early.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.e2e.kafka_io import Message
from streams.contracts.fused import FusedBatch, encode_batch
from streams.contracts.topics import RAW_TOPICS
from streams.contracts.watermarks import WatermarkFrame, encode_watermark
from streams.dedup.build import make_engine
from streams.intake.normalize import Normalizer
from streams.settings import Settings
from streams.simulator import SimRecord

__all__ = ["FusedFeed", "build_fused_feed", "warmup_messages"]

WATERMARK_KEY = b"wm"


@dataclass(frozen=True)
class FusedFeed:
    messages: list[Message]  # tile batches and watermark frames, in send order
    events: FusedBatch  # every accepted event once, in normalizer order (the peer's input)
    raw_records: int

    @property
    def n_events(self) -> int:
        return len(self.events)

    @property
    def n_bytes(self) -> int:
        return sum(len(m[1]) for m in self.messages)


def _chunks(
    settings: Settings, records: Sequence[SimRecord]
) -> list[tuple[int, str, int, list[SimRecord]]]:
    """Per source and raw partition, consecutive runs of ``batch_max_events`` records in
    arrival order: ``(first arrival, source, raw partition, records)``.

    A source's records are dealt round-robin over its raw partitions (as a producer without
    keys spreads them), so each raw partition of a sparse source still spans the day.
    """
    parts = settings.kafka.partitions
    by_part: dict[tuple[str, int], list[SimRecord]] = {}
    dealt: dict[str, int] = {}
    for r in sorted(records, key=lambda r: r.arrival_ms):
        i = dealt.get(r.source, 0)
        dealt[r.source] = i + 1
        by_part.setdefault((r.source, i % parts), []).append(r)
    size = settings.pipeline.batch_max_events
    out = []
    for (source, raw_partition), recs in by_part.items():
        for i in range(0, len(recs), size):
            part = recs[i : i + size]
            out.append((part[0].arrival_ms, source, raw_partition, part))
    out.sort(key=lambda c: (c[0], c[1], c[2]))
    return out


def _frames(
    settings: Settings, topic: str, raw_partition: int, mark: int, idle: bool
) -> list[Message]:
    """A watermark frame of one raw partition, to every fused partition."""
    frame = encode_watermark(WatermarkFrame(topic, raw_partition, mark, idle))
    return [(WATERMARK_KEY, frame, p, None) for p in range(settings.kafka.partitions)]


def build_fused_feed(settings: Settings, records: Sequence[SimRecord]) -> FusedFeed:
    """The fused messages of ``records`` (see the module docstring)."""
    normalizer = Normalizer.from_settings(settings)
    engine = make_engine(settings)
    raw = [(s, settings.kafka.topic(t), p) for s, t in RAW_TOPICS.items() for p in _parts(settings)]
    chunks = _chunks(settings, records)
    fed = {(source, p) for _, source, p, _ in chunks}
    # a raw partition that gets no record is idle from the start, as its normalizer says
    messages = [
        m for s, topic, p in raw if (s, p) not in fed for m in _frames(settings, topic, p, -1, True)
    ]
    batches: list[FusedBatch] = []
    marks: dict[tuple[str, int], int] = {}
    for _, source, p, part in chunks:
        arrival = [r.arrival_ms for r in part]
        batch = normalizer.normalize(source, [r.value for r in part], ingest_ms=arrival).batch
        batches.append(batch)
        for tile, tile_batch in engine.tile_batches(batch):
            messages.append((str(tile).encode(), encode_batch(tile_batch), None, None))
        marks[source, p] = max(marks.get((source, p), -1), max(arrival))
        topic = settings.kafka.topic(RAW_TOPICS[source])
        messages += _frames(settings, topic, p, marks[source, p], False)
    for source, topic, p in raw:  # everything read: every raw partition idle
        messages += _frames(settings, topic, p, marks.get((source, p), -1), True)
    return FusedFeed(messages, FusedBatch.concat(batches), len(records))


def _parts(settings: Settings) -> range:
    return range(settings.kafka.partitions)


def warmup_messages(
    settings: Settings, feed: FusedFeed, n: int = 64, every: int = 1
) -> tuple[list[Message], int]:
    """A few events a day before the feed, with their own ids, and their watermarks.

    Sent before the timed run so the worker has loaded its partition state, compiled
    nothing lazily and is consuming when the clock starts. ``every``: take every so many
    events of the feed (spread over more tiles, so over every fused partition). Returns
    (messages, events).
    """
    day_ms = 86_400_000
    sample = feed.events.take(np.arange(0, len(feed.events), every)[:n])
    fixed = sample.events.copy()
    fixed["event_id"] ^= np.uint64(0x5A5A_0000_0000_0001)  # ids the feed does not use
    fixed["event_time_ms"] -= day_ms
    fixed["ingest_time_ms"] -= day_ms
    early = FusedBatch(fixed, sample.strings)
    messages: list[Message] = [
        (str(tile).encode(), encode_batch(part), None, None)
        for tile, part in make_engine(settings).tile_batches(early)
    ]
    mark = int(fixed["ingest_time_ms"].max())
    for raw in RAW_TOPICS.values():
        for p in _parts(settings):
            messages += _frames(settings, settings.kafka.topic(raw), p, mark, False)
    return messages, len(early)
