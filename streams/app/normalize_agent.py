"""Role ``normalize``: raw topics to fused batches per tile, dead letters, and watermarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.app.faust_internals import (
    BulkChannel,
    RawBatch,
    bulk_channel,
    bulk_task,
    committed_offset,
    last_poll_ms,
    last_read_offset,
)
from streams.app.fused_lead import FusedLead, follow_remote_dedup, fused_lead
from streams.app.metrics import Metrics
from streams.contracts.fused import FLAG_LATE, encode_batch
from streams.contracts.topics import DEADLETTER, FUSED, RAW_TOPICS, REQUEST_UPDATES
from streams.contracts.watermarks import WatermarkFrame, encode_watermark
from streams.dedup.build import make_engine
from streams.dedup.engine import DedupEngine
from streams.intake.normalize import Normalizer
from streams.settings import Settings

__all__ = ["register"]

_GATE_POLL_S = 0.1
# A raw partition is live when its newest record was stamped at most this long before the
# worker handled it: its records are stamped by clocks like ours as they happen, not a
# replay or a backlog (the heartbeat below then holds for it). Generous: a worker a few
# seconds behind is still reading a live feed.
LIVE_WITHIN_MS = 10_000
# the heartbeat's period, at most (a fraction of the skew it allows, see _add_heartbeat)
_HEARTBEAT_MAX_S = 0.05


class _Progress:
    """Per raw partition: the highest arrival time sent (or promised by a heartbeat),
    when a record last came, and whether the partition is live (:data:`LIVE_WITHIN_MS`)."""

    def __init__(self) -> None:
        self.mark: dict[int, int] = {}
        self.last_seen: dict[int, float] = {}
        self.live: dict[int, bool] = {}

    def saw(self, partition: int, arrival_ms: int, now_ms: float | None = None) -> None:
        self.mark[partition] = max(self.mark.get(partition, arrival_ms), arrival_ms)
        self.last_seen[partition] = time.monotonic()
        now_ms = time.time() * 1000 if now_ms is None else now_ms
        self.live[partition] = now_ms - arrival_ms <= LIVE_WITHIN_MS


@dataclass(frozen=True)
class _Outputs:
    """The normalizer's output topics."""

    fused: Any
    dead: Any
    updates: Any  # hotline request updates
    lead: FusedLead  # what this process's dedup role has not handled yet of the fused sent


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    normalizer = Normalizer.from_settings(settings)
    # The dedup engine decides which tiles need an event (home and halos): one rule for
    # the normalizer that routes and the dedup stage that owns.
    engine = make_engine(settings)
    raw_topic = {"key_serializer": "raw", "value_serializer": "raw"}
    out = _Outputs(
        app.topic(settings.kafka.topic(FUSED), **raw_topic),
        app.topic(settings.kafka.topic(DEADLETTER), **raw_topic),
        app.topic(settings.kafka.topic(REQUEST_UPDATES), **raw_topic),
        fused_lead(app),
    )
    if "dedup" not in app.roles:
        # dedup runs in other processes: its committed offsets bound the lead
        follow_remote_dedup(app, settings, out.lead, metrics)
    for source, raw_name in RAW_TOPICS.items():
        topic_name = settings.kafka.topic(raw_name)
        # a partition's fetched records reach the adapters as one batch (no Faust event
        # per record): streams/app/faust_internals/bulk.py
        channel = bulk_channel(app, topic_name, settings.pipeline.normalize_batch_events)
        progress = _Progress()
        intake = _Intake(settings, metrics, normalizer, engine, source, topic_name, out, progress)
        ready = _ready(app, topic_name, out.lead)
        bulk_task(app, channel, f"normalize_{source}", intake.handle, ready)
        _add_idle_timer(app, settings, topic_name, out.fused, progress)
        _add_heartbeat(app, settings, channel, out.fused, progress)


@dataclass(frozen=True)
class _Intake:
    """One raw topic: a batch of its records to fused batches, dead letters and updates."""

    settings: Settings
    metrics: Metrics
    normalizer: Normalizer
    engine: DedupEngine
    source: str
    topic_name: str
    out: _Outputs
    progress: _Progress

    async def handle(self, batch: RawBatch) -> None:
        started = time.perf_counter()
        source, metrics, out = self.source, self.metrics, self.out
        partition = batch.partition
        origins = np.empty((len(batch), 2), dtype=np.int64)
        origins[:, 0] = partition
        origins[:, 1] = batch.offsets
        result = self.normalizer.normalize(
            source, batch.values, ingest_ms=batch.timestamps_ms, origins=origins
        )
        for letter in result.dead_letters:
            letter.topic, letter.partition = self.topic_name, partition
            letter.offset = batch.offsets[letter.index]
            # the raw record's time: the dead letter's month partition (docs/schema.md)
            stamp = batch.timestamps_ms[letter.index] / 1000
            await out.dead.send(
                key=source.encode(), value=letter.to_json(), timestamp=stamp, force=True
            )
            metrics.inc("citystream_deadletters_total", reason=letter.reason.value)
        for update in result.request_updates:
            key = str(update.event_id).encode()
            await out.updates.send(key=key, value=update.to_json(), force=True)
            metrics.inc("citystream_request_updates_total")
        await _send_tiles(self.engine, result.batch, out)
        self.progress.saw(partition, max(batch.timestamps_ms))
        await _send_watermarks(self.settings, self.topic_name, out.fused, self.progress, set())
        metrics.inc("citystream_records_total", len(batch), stage="normalize", source=source)
        metrics.inc("citystream_events_total", len(result.batch), stage="normalize")
        late = int(np.count_nonzero(result.batch.events["flags"] & FLAG_LATE))
        if late:
            metrics.inc("citystream_events_late_total", late, source=source)
        metrics.observe(
            "citystream_batch_duration_seconds", time.perf_counter() - started, stage="normalize"
        )


async def _send_tiles(engine: DedupEngine, batch: Any, out: _Outputs) -> None:
    for tile, part in engine.tile_batches(batch):
        sent = await out.fused.send(key=str(tile).encode(), value=encode_batch(part), force=True)
        out.lead.track(sent, len(part))


def _ready(app: Any, topic_name: str, lead: FusedLead) -> Callable[[], Awaitable[None]]:
    """Back-pressure before a batch of ``topic_name`` is taken: wait while this process's
    dedup role holds every partition of the topic this worker reads (the sources ahead of
    its watermark), or while it is a budget behind this process's normalizer on
    events.fused (streams/app/fused_lead.py). The dedup role pauses those partitions too,
    so that their full queue does not hold the fetcher."""

    def held() -> bool:
        consumer = app.consumer
        if consumer is None or not app.held:
            return False
        mine = {(tp.topic, tp.partition) for tp in consumer.assignment() if tp.topic == topic_name}
        return bool(mine) and mine <= app.held

    async def ready() -> None:
        while held() or lead.over(app):
            try:
                # woken when the dedup role handles events or changes its holds; the
                # timeout in case a change came between the check and the wait
                await asyncio.wait_for(lead.changed.wait(), _GATE_POLL_S)
            except TimeoutError:
                continue

    return ready


async def _send_watermarks(
    settings: Settings, topic_name: str, fused: Any, progress: _Progress, idle: set[int]
) -> None:
    # a copy: the idle timer adds partitions while the sends below wait
    for partition, mark in list(progress.mark.items()):
        frame = encode_watermark(WatermarkFrame(topic_name, partition, mark, partition in idle))
        for target in range(settings.kafka.partitions):
            await fused.send(key=b"wm", value=frame, partition=target, force=True)


def _add_idle_timer(
    app: Any, settings: Settings, topic_name: str, fused: Any, progress: _Progress
) -> None:
    """Declare a raw partition idle when it is caught up and quiet, so dedup moves on.

    Checked four times per quiet interval: checked once per interval, a partition that fell
    quiet just after a check was declared idle up to two intervals later, and every event
    of the other sources could wait that long for the watermark."""
    interval = settings.pipeline.idle_source_ms / 1000

    async def idle_check() -> None:
        consumer = app.consumer
        if consumer is None:
            return
        assigned = [tp for tp in consumer.assignment() if tp.topic == topic_name]
        idle: set[int] = set()
        now = time.monotonic()
        for tp in assigned:
            caught_up = _caught_up(consumer, tp)
            quiet = now - progress.last_seen.get(tp.partition, 0.0) >= interval
            if caught_up and quiet:
                idle.add(tp.partition)
                progress.mark.setdefault(tp.partition, -1)
        if idle:
            marks = _Progress()
            marks.mark = {p: progress.mark[p] for p in idle}
            await _send_watermarks(settings, topic_name, fused, marks, idle)

    app.timer(interval / 4, name=f"idle-{topic_name}")(idle_check)


def _add_heartbeat(
    app: Any, settings: Settings, channel: BulkChannel, fused: Any, progress: _Progress
) -> None:
    """Move the watermark of a live raw partition that is caught up but quiet.

    Why: dedup releases an event once every raw partition has passed its arrival, so a
    sparse source (the hotline, the patrols: a few records a second) held every sensor
    alarm back until its next record came, or until it was declared idle
    (``idle_source_ms``): at 10,000 records/s, up to 250 ms for one alarm in a hundred.
    A partition the consumer has read to its end, as of a fetch response at ``polled``,
    will next get a record that reached the broker after that, stamped by its producer
    then or a little before: at or after ``polled - live_source_skew_ms``. That is its
    mark. Only for a live partition (:data:`LIVE_WITHIN_MS`: a replay's or a backlog's
    stamps say nothing about the clock), only once every batch read from the topic is
    handled (the mark must not overtake events still to be sent), and not once the idle
    timer has it. A record stamped earlier still (a producer delayed beyond the skew)
    arrives behind the watermark and is released at once, as after an idle source wakes
    up (streams/dedup/ordering.py)."""
    skew = settings.pipeline.live_source_skew_ms
    if skew <= 0:
        return
    quiet_s = settings.pipeline.idle_source_ms / 1000
    topic_name = channel.topic

    async def heartbeat() -> None:
        consumer = app.consumer
        if consumer is None:
            return
        now = time.monotonic()
        moved = _Progress()
        for tp in consumer.assignment():
            p = tp.partition
            if tp.topic != topic_name or not progress.live.get(p):
                continue
            if now - progress.last_seen.get(p, 0.0) >= quiet_s:
                continue  # the idle timer's: declared idle, it holds nothing back
            polled = last_poll_ms(consumer, tp)  # before the high water mark (access.py)
            if polled is None or not _caught_up(consumer, tp) or not channel.drained():
                continue
            mark = polled - skew
            if mark > progress.mark.get(p, mark):
                progress.mark[p] = moved.mark[p] = mark
        if moved.mark:
            await _send_watermarks(settings, topic_name, fused, moved, set())

    period = min(_HEARTBEAT_MAX_S, skew / 2000)
    app.timer(period, name=f"heartbeat-{topic_name}")(heartbeat)


def _caught_up(consumer: Any, tp: Any) -> bool:
    """The consumer has read everything in ``tp`` up to its high water mark."""
    highwater = consumer.highwater(tp)
    if highwater is None:
        return False
    last_read = last_read_offset(consumer, tp)
    if last_read is None:
        committed = committed_offset(consumer, tp)
        return highwater == 0 or (committed is not None and committed >= highwater)
    return bool(last_read + 1 >= highwater)
