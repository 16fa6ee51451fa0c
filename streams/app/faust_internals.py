"""Every use of Faust's internals, in one place: re-check this module on a Faust upgrade.

- the app's transport (``App._new_transport``), with a cheaper per-message hand-off;
- the consumer's read and committed offsets (``Consumer._read_offset`` and
  ``_committed_offset``), for lag and for knowing a raw partition is caught up;
- no stream records while the group rebalances, and a seek for partitions without a
  committed offset (``Consumer._getmany``, ``seek_to_committed``): see below;
- a table write whose changelog record can be awaited (``Table.send_changelog`` and
  ``Table.data``, :func:`write_through`);
- work that must be on the broker before an offset commit (``Consumer.commit``,
  :func:`guard_commits`): see below;
- fetching paused for some partitions, as back-pressure (``Consumer.pause_partitions``
  and ``resume_partitions``, as Faust's own flow control uses them: :func:`hold_partitions`);
- raw topics consumed in bulk (:class:`BulkChannel`): their records are taken out of the
  fetched record map and acknowledged by offset range (``Consumer._acked``,
  ``_acked_index``, ``_read_offset``, ``_committed_offset``, ``_paused_partitions``,
  ``wait_empty``): see below;
- an agent that raises ends the worker process (``App._on_agent_error``): see below.

The fast path counts its hits (:data:`HANDOFFS`, exported as a worker metric); the
streaming integration test fails when a run takes no inline hand-off, which is what a
Faust that changed the call shape of ``wait_first`` would silently cause.

The hand-off, why: Faust's fetcher hands every consumed message to the conductor through
``Service.wait_first(callback(message), suspend_flow.wait())``. That call wraps four
coroutines in tasks (the callback, the flow-suspension event, and the service's stopped
and crashed events), waits on all of them and cancels three: for the raw topics, one
small record per message, it was 36 % of a worker's CPU (py-spy, catch-up of 150,000
records). Almost always the callback finishes without ever suspending: it only puts the
event on a channel queue. :class:`Consumer` runs the callback to its first suspension
inline; only a callback that does suspend (a full queue, flow control, the producer
buffer) goes the original way, resumed from where it stopped, so back-pressure and
rebalances behave exactly as in Faust. Everything else is Faust's aiokafka driver.

Records lost at a rebalance, why: at the end of a rebalance Faust's recovery resumes the
stream partitions, seeks them to their committed offsets, and only then resumes its flow
control, which *clears every stream's queue* (``FlowControlEvent.resume``). Records fetched
in between (a restarted worker with a backlog fetches them at once) reach an agent or sit
in its queue and are dropped, and nothing fetches them again: the seek was before. The
agent stops there (its later records cannot commit past the gap) or, after the next
restart, continues without them. Seen as escalation workers that stopped after a dozen
records of a backlog of hundreds. So while the app is rebalancing :class:`Consumer` fetches
only the tables' changelogs (the recovery), and stream records are fetched from the
committed offsets once the rebalance has ended. Faust also relies on that seek to fetch
again what an earlier generation fetched and the clearing dropped, but aiokafka's
``seek_to_committed`` skips partitions whose committed offset is missing or 0: those go
back to their beginning, as the consumer's ``earliest`` reset would.

An agent that raises, why: Faust logs the error, commits and starts the agent again on
the same stream. The records it had taken but not finished are neither acknowledged nor
fetched again (the consumer's position is past them), so they are lost to the running
worker, and the offsets stop committing at the first of them. Ending the process instead
is what a SIGKILL does, which every role is tested against: the process supervisor
(compose's ``restart``) starts a new worker, and it reads from the committed offsets again.

Commit guards, why: an agent whose state lives in its own changelog (dedup) must have that
state on the broker before the input offsets it covers commit. Writing it after every chunk
costs a tile record per touched tile per chunk (half the dedup stage's time at 10,000
records/s) although only the state as of a commit is ever read back. A guard is an async
context manager entered around every commit (the periodic one, the one at a rebalance and
at shutdown): it writes what the commit needs, and holding it keeps the agent from
finishing another chunk, whose offsets the commit would otherwise take along unwritten.

Bulk intake, why: even with the inline hand-off, every raw record became a Faust message,
an event, a trip through the conductor, the stream iterator and its sensors, and an ack of
its own: about 40 us of worker CPU per raw record, while the normalizer needs 5 us. For a
topic registered with :func:`bulk_channel` the consumer hands each partition's fetched
records over as one :class:`RawBatch` (offsets, timestamps and values as lists) on a
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
import inspect
import logging
import os
from collections.abc import Callable, Coroutine, Generator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults
from mode.utils.futures import notify

__all__ = [
    "AGENT_ERROR_EXIT",
    "HANDOFFS",
    "App",
    "BulkChannel",
    "Consumer",
    "Handoffs",
    "RawBatch",
    "Resumed",
    "Transport",
    "bulk_channel",
    "committed_offset",
    "guard_commits",
    "hold_partitions",
    "last_read_offset",
    "run_until_suspended",
    "write_through",
]

log = logging.getLogger(__name__)

# the exit status of a worker ended by an agent's error (EX_SOFTWARE: an internal error)
AGENT_ERROR_EXIT = 70

# how long the fetcher waits before asking again while only stream records are to fetch
# and the rebalance has not ended
_REBALANCE_POLL_S = 0.05


class Handoffs:
    """How the fetcher handed messages to the conductor in this process."""

    def __init__(self) -> None:
        self.inline = 0  # the callback finished without suspending: the fast path
        self.task = 0  # Faust's own path (suspended callback, flow control, shutdown)
        self.bulk = 0  # records of bulk topics, handed over in batches (no message each)


HANDOFFS = Handoffs()


def run_until_suspended(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Step ``coro`` once: ``(True, its result)`` if it finished, else ``(False, what it
    yielded)`` (the future it waits on, for the task that takes it over)."""
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, yielded


class Resumed:
    """An awaitable that carries on a coroutine already started by hand.

    It passes the coroutine's first yield (a future, or ``None`` for a bare yield) up to
    the task awaiting it, then relays every send and throw, as ``await coro`` would have.
    """

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, to_yield = self._coro, self._yielded
        while True:
            try:
                sent = yield to_yield
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation included: the coroutine decides
                try:
                    to_yield = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                to_yield = coro.send(sent)
            except StopIteration as stop:
                return stop.value


class Consumer(faust_aiokafka.Consumer):
    _held_in: int | None = None  # the rebalance whose held-back stream partitions were logged

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        first = coros[0] if coros else None
        if (
            timeout is not None
            or len(coros) != 2
            or not inspect.iscoroutine(first)
            or self.should_stop
            or self.suspend_flow.is_set()
        ):
            HANDOFFS.task += 1
            return await super().wait_first(*coros, timeout=timeout)
        suspended = coros[1]
        try:
            finished, value = run_until_suspended(first)
        except BaseException:
            _close(suspended)
            raise
        if finished:
            _close(suspended)
            HANDOFFS.inline += 1
            return WaitResults([first], [value], False)
        HANDOFFS.task += 1
        return await super().wait_first(Resumed(first, value), suspended)

    async def commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        async with AsyncExitStack() as stack:
            for guard in getattr(self.app, "commit_guards", ()):
                await stack.enter_async_context(guard())
            return bool(await super().commit(topics, start_new_transaction=start_new_transaction))

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        if active_partitions and self.app.rebalancing:
            # the recovery's changelogs only: see the module docstring
            held = {tp for tp in active_partitions if not self._is_changelog_tp(tp)}
            if held and self.app.rebalancing_count != self._held_in:
                self._held_in = self.app.rebalancing_count
                log.info("stream partitions held back until the rebalance ends: %d", len(held))
            active_partitions = set(active_partitions) - held
            if not active_partitions:
                await asyncio.sleep(min(timeout, _REBALANCE_POLL_S))
                return {}
        records = await super()._getmany(active_partitions, timeout)
        channels = _bulk_channels(self.app)
        if channels and records:
            records = dict(records)
            bulk = {tp: records.pop(tp) for tp in [tp for tp in records if tp.topic in channels]}
            await self._hand_over(channels, bulk)
        return records

    async def _hand_over(
        self, channels: dict[str, BulkChannel], fetched: Mapping[Any, Sequence[Any]]
    ) -> None:
        """Fetched records of bulk topics to their channels, one batch of each partition in
        turn (Faust's scheduler goes round-robin between partitions too: a partition handed
        over whole before the others would run ahead of the sources' watermark)."""
        pending: dict[Any, tuple[Sequence[Any], int, int]] = {}
        for tp, records in fetched.items():
            read = self._read_offset[tp]
            if read is not None and records and records[0].offset < read:
                # Faust's fetch loop drops what is behind its read offset (fetched twice)
                records = [r for r in records if r.offset >= read]
            if records:
                # offsets the broker skipped (transaction markers) are done with the next one
                first = records[0].offset
                pending[tp] = (records, 0, first if read is None else min(first, read + 1))
        generation = self.app.consumer_generation_id
        while pending:
            for tp, (records, start, ack_from) in list(pending.items()):
                if tp in self._paused_partitions:
                    # paused meanwhile (back-pressure, hold_partitions): the rest of this
                    # fetch is fetched again once the partition resumes
                    await self.seek(tp, records[start].offset)
                    del pending[tp]
                    continue
                channel = channels[tp.topic]
                part = records[start : start + channel.max_records]
                batch = RawBatch(
                    tp,
                    generation,
                    ack_from,
                    [r.offset for r in part],
                    [r.timestamp for r in part],
                    [r.value or b"" for r in part],
                )
                await channel.put(batch)
                self._handed_over(tp, batch)
                if start + len(part) < len(records):
                    pending[tp] = (records, start + len(part), batch.offsets[-1] + 1)
                else:
                    del pending[tp]

    def _handed_over(self, tp: Any, batch: RawBatch) -> None:
        """What Faust's fetch loop and its monitor note per message, for a whole batch."""
        last = batch.offsets[-1]
        self._read_offset[tp] = last
        HANDOFFS.bulk += len(batch)
        monitor = self.app.monitor
        monitor.messages_received_total += len(batch)
        monitor.messages_received_by_topic[tp.topic] += len(batch)
        monitor.tp_read_offsets[tp] = last

    def ack_range(self, tp: Any, first: int, last: int) -> None:
        """Acknowledge offsets ``first..last`` of ``tp`` as :meth:`ack` does one message's."""
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        committed = self._committed_offset[tp]
        if committed is not None:
            first = max(first, committed)
        index = self._acked_index[tp]
        new = [offset for offset in range(first, last + 1) if offset not in index]
        index.update(new)
        self._acked[tp].extend(new)
        self._n_acked += len(new)
        notify(self._waiting_for_ack)

    async def wait_empty(self) -> None:
        # a revocation (or the stop) waits for the batches in hand, as for Faust's events
        for channel in _bulk_channels(self.app).values():
            await channel.wait_idle(lambda: bool(self.should_stop))
        await super().wait_empty()

    async def seek_to_committed(self) -> Mapping[Any, int]:
        committed = await super().seek_to_committed()
        unseeked = [
            tp
            for tp, offset in committed.items()
            if not offset
            and not self._is_changelog_tp(tp)
            and self.app.topics.acks_enabled_for(tp.topic)
        ]
        if unseeked:
            await self._thread.seek_to_beginning(*unseeked)
        return committed


def _bulk_channels(app: Any) -> dict[str, BulkChannel]:
    """The bulk channels of ``app`` (an :class:`App`: the only one on this transport)."""
    channels: dict[str, BulkChannel] = app.bulk_channels
    return channels


def _close(awaitable: Any) -> None:
    """Close a coroutine that will never be awaited (no "never awaited" warning)."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


CommitGuard = Callable[[], AbstractAsyncContextManager[Any]]


class App(faust.App):
    """Faust's app on the transport above."""

    commit_guards: tuple[CommitGuard, ...] = ()
    held: frozenset[tuple[str, int]] = frozenset()  # paused by hold_partitions
    exit_process: Callable[[int], Any] = staticmethod(os._exit)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bulk_channels: dict[str, BulkChannel] = {}  # topic name -> its channel

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)

    async def _on_agent_error(self, agent: Any, exc: BaseException) -> None:
        """End the worker, as a SIGKILL would (module doc), after logging why."""
        log.critical(
            "agent %s raised; ending the worker so that its records are read again: %r",
            getattr(agent, "name", agent),
            exc,
            exc_info=exc,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        self.exit_process(AGENT_ERROR_EXIT)


def guard_commits(app: Any, guard: CommitGuard) -> None:
    """Enter ``guard()`` around every offset commit of ``app``'s consumer (see above)."""
    if not isinstance(app, App):
        raise TypeError("commit guards need the app of streams.app.faust_internals")
    app.commit_guards = (*app.commit_guards, guard)


@dataclass(frozen=True)
class RawBatch:
    """Records of one partition, in offset order, as the consumer fetched them."""

    tp: Any
    generation: int  # the consumer generation that fetched them
    ack_from: int  # the first offset the batch acknowledges (skipped ones before it too)
    offsets: list[int]
    timestamps_ms: list[int]
    values: list[bytes]

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


def write_through(table: Any, partition: int, key: Any, value: Any) -> asyncio.Future:
    """Set ``key`` of a Faust table to ``value`` (delete it for None) and return the future
    of its changelog record, acknowledged once the broker has it.

    ``table[key] = value`` sends the same record but drops the future, so nothing can
    wait for it: a record processed after the input offset commits could be missing from
    the changelog a restarted worker recovers. ``partition``: the changelog partition, the
    one of the input record being processed (as Faust's own writes)."""
    if value is None:
        future = table.send_changelog(partition, key, None, value_serializer="raw")
        table.data.pop(key, None)
    else:
        future = table.send_changelog(partition, key, value)
        table.data[key] = value
    return future


def hold_partitions(app: Any, wanted: set[tuple[str, int]]) -> int:
    """Pause fetching exactly the ``(topic, partition)``s of ``wanted`` this worker is
    assigned (the others it holds resume); returns how many are held.

    Faust resumes every partition at the end of a rebalance and pauses them all during
    one: nothing is changed then, and the pauses are applied again at each call."""
    consumer = app.consumer
    if consumer is None or app.rebalancing:
        return len(app.held)
    assigned = {(tp.topic, tp.partition): tp for tp in consumer.assignment()}
    hold = wanted & set(assigned)
    if hold:
        consumer.pause_partitions([assigned[k] for k in hold])
    release = [assigned[k] for k in app.held - hold if k in assigned]
    if release:
        consumer.resume_partitions(release)
    app.held = frozenset(hold)
    return len(hold)


def last_read_offset(consumer: Any, tp: Any) -> int | None:
    """Offset of the last message the consumer read from ``tp`` (None: none yet)."""
    value = consumer._read_offset[tp]
    return None if value is None else int(value)


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The consumer's last committed offset of ``tp`` (None: never committed)."""
    value = consumer._committed_offset[tp]
    return None if value is None else int(value)
