"""Role ``dedup``: fused batches to cases and event-to-case links, one kernel call per tile.

The role keeps, per assigned partition, a :class:`PartitionState` (watermarks, reorder
buffers, per-tile kernel state). It consumes ``events.fused`` in bulk (no Faust event per
message: streams/app/faust_internals/bulk.py): each batch is one partition's fetched
messages, decoded straight from the fetched values; in a process whose sink role reads the
topic too, through a Faust agent, handed to the same handler per partition. For each
batch it buffers the events, releases those every raw partition has passed, runs the
kernels once per touched tile, and sends links, cases and the dead letters of records a
source sent twice. Before the input offsets commit (a commit guard,
streams/app/faust_internals/consumer.py) it waits until the broker has every output sent so
far and writes the tiles touched since the last commit to the changelog: once per commit
rather than per chunk, since only the state as of a commit is ever read back, and a chunk's
links go out without waiting for a changelog round trip. Late
events are linked like any other (docs/lateness.md): none is dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from streams.app.faust_internals import (
    RawBatch,
    batches_of_events,
    bulk_channel,
    bulk_task,
    guard_commits,
    hold_partitions,
)
from streams.app.fused_lead import fused_lead
from streams.app.kafka_admin import read_to_end
from streams.app.metrics import Metrics
from streams.contracts.closures import decode_closures, is_closure_frame
from streams.contracts.columnar import encode_chunks
from streams.contracts.deadletter import DeadLetter
from streams.contracts.fused import decode_batch
from streams.contracts.reasons import Reason
from streams.contracts.topics import CASES, DEADLETTER, DEDUP_STATE, FUSED, LINKS, RAW_TOPICS
from streams.contracts.watermarks import decode_watermark, is_watermark_frame
from streams.dedup.build import engine_dead_letters, make_engine
from streams.dedup.ordering import sources_ahead
from streams.dedup.snapshot import PartitionState, partition_from_changelog
from streams.settings import Settings

__all__ = ["register"]

log = logging.getLogger(__name__)

# Fused messages per batch at most: a batch is what one fetch brought for one partition (a
# fused message carries about 280 events, at most a normalize batch's worth)
FUSED_BATCH_MESSAGES = 512
# roles whose Faust agents read events.fused too: with one of them in the process, dedup
# reads it through an agent as well
FUSED_AGENT_ROLES = frozenset({"sink"})
# how often the normalizer's lead is looked at between fused batches
_LEAD_CHECK_S = 0.05


def expected_sources(settings: Settings) -> frozenset[tuple[str, int]]:
    """Every raw partition whose watermark the dedup stage waits for."""
    return frozenset(
        (settings.kafka.topic(t), p)
        for t in RAW_TOPICS.values()
        for p in range(settings.kafka.partitions)
    )


class DedupWorker:
    """The per-process side of the agent: loaded partitions and the output topics."""

    def __init__(self, app: Any, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.engine = make_engine(settings)
        self.expected = expected_sources(settings)
        self.partitions: dict[int, PartitionState] = {}
        self.state_topic_name = settings.kafka.topic(DEDUP_STATE)
        self.links = app.topic(
            settings.kafka.topic(LINKS), key_serializer="raw", value_serializer="raw"
        )
        self.cases = app.topic(
            settings.kafka.topic(CASES), key_serializer="raw", value_serializer="raw"
        )
        self.dead = app.topic(
            settings.kafka.topic(DEADLETTER), key_serializer="raw", value_serializer="raw"
        )
        self.state_topic = app.topic(
            self.state_topic_name, key_serializer="raw", value_serializer="raw"
        )
        self.merged = 0
        self.processed = 0
        self.peak_buffered = 0
        self.in_flight: list[Any] = []  # delivery futures of outputs not yet acknowledged
        # held while a chunk is handled and while the state is written for a commit
        self.lock = asyncio.Lock()
        # what this process's normalize role sent to events.fused and this role has not
        # handled yet (streams/app/fused_lead.py)
        self.lead = fused_lead(app)
        self.lead.arm(settings.kafka.topic(FUSED), settings.pipeline.max_pending_events)
        self.holding_ahead = False  # the raw partitions ahead of the watermark are held
        self.holding_lead = False  # every raw partition is held: the normalizer is ahead

    @asynccontextmanager
    async def committing(self) -> AsyncIterator[None]:
        """Around an offset commit: every chunk whose offsets it may take is on the
        changelog first, and no further chunk completes until it is done."""
        async with self.lock:
            await self.persist(set(self.partitions))
            yield

    async def persist(self, partitions: set[int]) -> None:
        """Write the touched tiles of ``partitions`` to the changelog, acknowledged.

        The state written marks their events as processed: a restarted worker drops them as
        redeliveries. So every output they produced must be on the broker first; batches of
        different topics are not delivered in the order they were sent."""
        if self.in_flight:
            await asyncio.gather(*self.in_flight)
            self.in_flight.clear()
        written = []
        for p in sorted(partitions & set(self.partitions)):
            state = self.partitions[p]
            if not state.changed:
                continue
            for key, value in state.changelog_records(self.engine):
                sent = await self.state_topic.send(key=key, value=value, partition=p, force=True)
                written.append(sent)
            state.changed = False
        await asyncio.gather(*written)

    async def forget(self, partitions: set[int]) -> None:
        """Partitions revoked: their state goes to the changelog for the next owner."""
        async with self.lock:
            await self.persist(partitions)
            for p in partitions:
                self.partitions.pop(p, None)
            self.lead.forget(partitions)

    async def partition(self, p: int) -> PartitionState:
        state = self.partitions.get(p)
        if state is None:
            loop = asyncio.get_running_loop()
            state = await loop.run_in_executor(
                None, load_partition, self.settings, self.state_topic_name, p, self.expected
            )
            log.info(
                "dedup partition %d loaded: %d tiles, %d buffered",
                p,
                len(state.tiles),
                state.buffered(),
            )
            self.partitions[p] = state
        return state

    async def handle(self, batch: RawBatch) -> None:
        started = time.perf_counter()
        async with self.lock:
            await self._handle(batch)
        self.metrics.observe(
            "citystream_batch_duration_seconds", time.perf_counter() - started, stage="dedup"
        )

    async def _handle(self, batch: RawBatch) -> None:
        state = await self.partition(batch.partition)
        state.changed = True
        for offset, key, value in zip(batch.offsets, batch.keys, batch.values, strict=True):
            try:
                self._take(state, key, value)
            except ValueError as exc:  # FusedFormatError, a bad closure or watermark frame
                await self._malformed(batch, offset, value, exc)
        await self._release(state)
        self.lead.handled(batch.partition, batch.offsets[-1])
        self.backpressure()
        # acknowledged outputs need no further wait (a failed one stays, for persist to raise)
        self.in_flight = [
            f for f in self.in_flight if not f.done() or f.cancelled() or f.exception() is not None
        ]

    def backpressure(self) -> None:
        """Keep the reorder buffers under ``max_pending_events``.

        From a quarter of it in the buffers, the raw partitions this worker reads ahead of
        the watermark pause (the watermark's own keep going, so it moves and the buffers
        drain), until under an eighth of it. And from a quarter of it in the normalizer's
        lead on events.fused (this process's: streams/app/fused_lead.py) every raw
        partition pauses, until the lead is under an eighth: the events already sent reach
        the buffer whatever is paused."""
        buffered = sum(s.buffered() for s in self.partitions.values())
        self.peak_buffered = max(self.peak_buffered, buffered)
        self.metrics.set("citystream_buffered_events", float(buffered))
        self.metrics.set("citystream_buffered_events_peak", float(self.peak_buffered))
        cap = self.settings.pipeline.max_pending_events
        was_holding = bool(self.app.held)
        self.holding_ahead = buffered >= cap // 4 or (self.holding_ahead and buffered >= cap // 8)
        self.holding_lead = self.lead.over(self.app, None if not self.holding_lead else cap // 8)
        if not (self.holding_ahead or self.holding_lead or was_holding):
            return
        wanted: set[tuple[str, int]] = set()
        if self.holding_ahead:
            wanted |= sources_ahead([s.tracker for s in self.partitions.values()])
        if self.holding_lead:
            wanted |= self.expected
        held = hold_partitions(self.app, wanted)
        self.lead.notify()  # the normalize role waits on the holds
        if held and not was_holding:
            self.metrics.inc("citystream_backpressure_holds_total")
            log.info("dedup buffer at %d events: %d raw partitions paused", buffered, held)
        self.metrics.set("citystream_raw_partitions_held", float(held))

    def _take(self, state: PartitionState, key: bytes | None, value: bytes) -> None:
        """One frame of events.fused into the partition's state; ValueError, before any
        change, for a frame that does not decode."""
        if is_watermark_frame(value):
            state.tracker.update(decode_watermark(value))
            return
        tile = int(key or b"")  # ValueError: not a tile key
        if is_closure_frame(value):
            self._closures(state, tile, value)
            return
        state.add(tile, value, decode_batch(value))

    async def _malformed(self, batch: RawBatch, offset: int, value: bytes, exc: ValueError) -> None:
        topic, partition = batch.tp.topic, batch.partition
        letter = DeadLetter(
            "dedup", Reason.MALFORMED_FRAME, str(exc), value, topic, partition, offset
        )
        self.in_flight.append(
            await self.dead.send(key=b"dedup", value=letter.to_json(), force=True)
        )
        self.metrics.inc("citystream_deadletters_total", reason=Reason.MALFORMED_FRAME.value)
        log.error("events.fused %d@%d dead-lettered: %s", partition, offset, exc)

    def _closures(self, state: PartitionState, tile: int, value: bytes) -> None:
        closures = decode_closures(value)
        # Events after a closure's time may have been matched already: it applies at once.
        late = sum(c.closed_ms < state.buffer(tile).released_to for c in closures)
        state.add_closures(tile, closures)
        self.metrics.inc("citystream_closures_received_total", len(closures))
        if late:
            self.metrics.inc("citystream_closures_late_total", late)

    async def _release(self, state: PartitionState) -> None:
        mark = state.tracker.watermark()
        for tile in sorted(state.buffers):
            out = state.release(self.engine, tile, mark)
            if out is not None:
                await self._emit(tile, out)

    async def _emit(self, tile: int, out: Any) -> None:
        key = str(tile).encode()
        if out.n_links:
            for value in encode_chunks("links", out.links):
                self.in_flight.append(await self.links.send(key=key, value=value, force=True))
            new = int(out.links["is_new"].sum())
            self.processed += out.n_links
            self.merged += out.n_links - new
            self.metrics.inc("citystream_events_total", out.n_links, stage="dedup")
            self.metrics.inc("citystream_cases_opened_total", new)
            self.metrics.inc("citystream_events_merged_total", out.n_links - new)
            self.metrics.set("citystream_dedup_ratio", self.merged / max(1, self.processed))
        if len(out.cases["case_id"]):
            for value in encode_chunks("cases", out.cases):
                self.in_flight.append(await self.cases.send(key=key, value=value, force=True))
        if out.beyond_state:
            self.metrics.inc("citystream_events_beyond_state_total", out.beyond_state)
        if out.closed:
            self.metrics.inc("citystream_cases_closed_in_state_total", out.closed)
        await self._dead_letters(
            out.duplicates,
            Reason.DUPLICATE_SOURCE_ID,
            "the source sent an already accepted record again",
        )

    async def _dead_letters(self, batch: Any, reason: Reason, message: str) -> None:
        letters = engine_dead_letters(batch, reason, message)
        # each stamped with its raw record's arrival: the dead letter's month partition
        arrivals = batch.events["ingest_time_ms"].tolist() if letters else []
        for letter, arrival_ms in zip(letters, arrivals, strict=True):
            sent = await self.dead.send(
                key=letter.source.encode(),
                value=letter.to_json(),
                timestamp=arrival_ms / 1000,
                force=True,
            )
            self.in_flight.append(sent)
            self.metrics.inc("citystream_deadletters_total", reason=reason.value)


def load_partition(
    settings: Settings, topic: str, partition: int, expected: frozenset[tuple[str, int]]
) -> PartitionState:
    """Read one partition of the changelog to its end; the last record per key wins.

    Blocking (kafka-python): run it in an executor from async code.
    """
    latest: dict[bytes, bytes | None] = {}
    for record in read_to_end(settings, topic, [partition], idle_s=30.0):
        latest[record.key] = record.value
    # the worker's engine (make_engine is cached): it holds no per-tile state, so the
    # replay of deltas in this executor thread shares it safely with the agent
    return partition_from_changelog(
        partition, expected, latest, settings.pipeline.changelog_part_bytes, make_engine(settings)
    )


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    worker = DedupWorker(app, settings, metrics)
    fused_name = settings.kafka.topic(FUSED)

    async def on_revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        await worker.forget({tp.partition for tp in revoked if tp.topic == fused_name})

    app.on_partitions_revoked.connect(on_revoked)
    guard_commits(app, worker.committing)
    if FUSED_AGENT_ROLES & app.roles:
        _register_agent(app, settings, worker, fused_name)
    else:
        bulk_task(app, bulk_channel(app, fused_name, FUSED_BATCH_MESSAGES), "dedup", worker.handle)

    async def backpressure() -> None:
        # the lead changes while no fused batch comes (the normalizer sends, the producer
        # acknowledges): looked at between batches too
        if worker.holding_lead or worker.lead.over(app):
            worker.backpressure()

    app.timer(_LEAD_CHECK_S, name="dedup-lead")(backpressure)


def _register_agent(app: Any, settings: Settings, worker: DedupWorker, fused_name: str) -> None:
    """events.fused through a Faust agent (a Faust event per message): in a process where
    another role's agent reads the topic too, as the bulk hand-over takes the topic's records
    away from Faust's agents (streams/app/faust_internals/bulk.py)."""
    log.info("dedup takes events.fused per message: the sink's agent reads it in this process")
    fused = app.topic(fused_name, key_serializer="raw", value_serializer="raw")

    async def dedup(stream: Any) -> None:
        async for events in stream.take_events(
            FUSED_BATCH_MESSAGES, within=settings.pipeline.batch_max_ms / 1000
        ):
            for batch in batches_of_events(events, app.consumer_generation_id):
                await worker.handle(batch)

    app.agent(fused, name="dedup")(dedup)
