"""Topics consumed in bulk: a partition's fetched records handed over as one batch.

Bulk intake, why: even with the inline hand-off, every raw record became a Faust message,
an event, a trip through the conductor, the stream iterator and its sensors, and an ack of
its own: about 40 us of worker CPU per raw record, while the normalizer needs 5 us. For a
topic registered with :func:`bulk_channel` the consumer hands each partition's fetched
records over as one :class:`RawBatch` (offsets, timestamps, values and keys as lists) on a
bounded queue, and its handler acknowledges the batch's whole offset range once its
outputs are sent. What Faust does per message holds per batch: the read offset and the
gaps the broker skipped (``_drain_messages``), nothing is taken while the flow is stopped
or from an older generation (``Stream``: those records are fetched again from the
committed offsets), a partition paused while its fetch is handed over gets the rest of
it again after its resume (``seek``), a revocation waits for the batch in hand
(``wait_empty``), and the commit flushes the producer before it commits, so an offset is
committed only once the outputs of its record are acknowledged.

"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streams.app.faust_internals.consumer import App

__all__ = ["BulkChannel", "RawBatch", "batches_of_events", "bulk_channel", "bulk_task"]


@dataclass(frozen=True)
class RawBatch:
    """Records of one partition, in offset order, as the consumer fetched them."""

    tp: Any
    generation: int  # the consumer generation that fetched them
    ack_from: int  # the first offset the batch acknowledges (skipped ones before it too)
    offsets: list[int]
    timestamps_ms: list[int]
    values: list[bytes]
    keys: list[bytes | None]

    @property
    def partition(self) -> int:
        return int(self.tp.partition)

    def __len__(self) -> int:
        return len(self.offsets)


class BulkChannel:
    """A topic consumed in batches: :meth:`get` the next batch, :meth:`done` once its
    outputs are sent (its offsets are then acknowledged; the commit flushes them first)."""

    def __init__(self, app: App, topic: str, max_records: int, max_batches: int) -> None:
        if max_records < 1 or max_batches < 1:
            raise ValueError(f"bulk channel sizes must be >= 1: {max_records}, {max_batches}")
        self.app = app
        self.topic = topic
        self.max_records = max_records
        # bounded: a full queue holds the fetcher (back-pressure, nothing dropped)
        self._queue: asyncio.Queue[RawBatch] = asyncio.Queue(max_batches)
        self._in_hand: RawBatch | None = None
        self._abandoned = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def put(self, batch: RawBatch) -> None:
        await self._queue.put(batch)

    def full(self) -> bool:
        return self._queue.full()

    def drained(self) -> bool:
        """No batch waits in the queue or is in hand: everything read has been handled."""
        return self._queue.empty() and self._in_hand is None

    async def get(self) -> RawBatch:
        """The next batch of the current generation (older ones are fetched again)."""
        if self._in_hand is not None:
            raise RuntimeError(f"{self.topic}: get() before done() of the batch in hand")
        if self._abandoned:
            raise RuntimeError(f"{self.topic}: get() after a batch was abandoned")
        while True:
            batch = await self._queue.get()
            if self._current(batch):
                self._in_hand = batch
                self._idle.clear()
                return batch

    def done(self, batch: RawBatch) -> None:
        """The batch's outputs are sent: acknowledge its offsets (not a stale batch's)."""
        if batch is not self._in_hand:
            raise RuntimeError(f"{self.topic}: done() for a batch that is not in hand")
        try:
            # not the flow's state: a revocation stops the flow, then waits for this ack
            if batch.generation == self.app.consumer_generation_id:
                consumer: Any = self.app.consumer  # this module's Consumer
                consumer.ack_range(batch.tp, batch.ack_from, batch.offsets[-1])
        finally:
            self._in_hand = None
            self._idle.set()

    def abandon(self) -> None:
        """Drop the batch in hand unacknowledged (its handler failed or was cancelled), and
        take no more: a later batch's ack would let the commit pass over it. It is fetched
        again from the committed offsets after the restart; a revocation need not wait."""
        self._abandoned = True
        self._in_hand = None
        self._idle.set()

    def _current(self, batch: RawBatch) -> bool:
        # as Faust's Stream skips a message while the flow is stopped or of another generation
        app = self.app
        return app.flow_control.is_active() and batch.generation == app.consumer_generation_id

    async def wait_idle(self, stopping: Any) -> None:
        """Return once no batch is in hand (or ``stopping()``)."""
        while not self._idle.is_set() and not stopping():
            try:
                await asyncio.wait_for(self._idle.wait(), timeout=1.0)
            except TimeoutError:
                continue


def bulk_channel(app: App, topic: str, max_records: int, max_batches: int = 4) -> BulkChannel:
    """Subscribe ``app`` to ``topic`` and hand its records over in batches of at most
    ``max_records`` (one partition each), at most ``max_batches`` waiting."""
    if topic in app.bulk_channels:
        raise ValueError(f"topic {topic} already has a bulk channel")
    channel = BulkChannel(app, topic, max_records, max_batches)
    app.bulk_channels[topic] = channel
    app.topics.add(app.topic(topic, key_serializer="raw", value_serializer="raw"))
    return channel


def bulk_task(
    app: App,
    channel: BulkChannel,
    name: str,
    handle: Callable[[RawBatch], Awaitable[None]],
    ready: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``handle`` on every batch of ``channel`` in a task of ``app``, acknowledging each
    batch once ``handle`` returns (its outputs sent: the next commit flushes them first).
    ``ready``: awaited before each batch is taken (back-pressure: no batch is in hand
    meanwhile, so a revocation does not wait for it)."""

    async def consume() -> None:
        try:
            while True:
                if ready is not None:
                    await ready()
                batch = await channel.get()
                await handle(batch)
                channel.done(batch)
        except asyncio.CancelledError:
            channel.abandon()
            raise
        except Exception as exc:
            channel.abandon()
            # a task that died quietly would stall the topic: the worker ends, as when an
            # agent raises (consumer.App._on_agent_error), and restarts from the committed
            # offsets
            await app._on_agent_error(name, exc)
            raise

    consume.__name__ = name
    app.task(consume)


def batches_of_events(events: list[Any], generation: int) -> list[RawBatch]:
    """Faust events (a ``take_events`` chunk) as :class:`RawBatch` es, one per partition
    in the order they came, for a role that takes a topic either way (Faust acknowledges
    the events; the batches are not :meth:`BulkChannel.done`)."""
    by_tp: dict[Any, list[Any]] = {}
    for event in events:
        by_tp.setdefault(event.message.tp, []).append(event.message)
    return [
        RawBatch(
            tp,
            generation,
            messages[0].offset,
            [m.offset for m in messages],
            [round(m.timestamp * 1000) for m in messages],
            [m.value or b"" for m in messages],
            [m.key for m in messages],
        )
        for tp, messages in by_tp.items()
    ]
