"""The app, its transport and its consumer: the rebalance, commit and agent-error
behaviour below, and the bulk hand-over of streams/app/faust_internals/bulk.py.

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
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults
from mode.utils.futures import notify

from streams.app.faust_internals.bulk import BulkChannel, RawBatch
from streams.app.faust_internals.handoff import (
    HANDOFFS,
    Resumed,
    close_unawaited,
    run_until_suspended,
)

__all__ = ["AGENT_ERROR_EXIT", "App", "CommitGuard", "Consumer", "Transport", "guard_commits"]

log = logging.getLogger(__name__)

# the exit status of a worker ended by an agent's error (EX_SOFTWARE: an internal error)
AGENT_ERROR_EXIT = 70

# how long the fetcher waits before asking again while only stream records are to fetch
# and the rebalance has not ended
_REBALANCE_POLL_S = 0.05
# how often a hand-over waiting on a full bulk channel looks whether its partition paused
_FULL_QUEUE_POLL_S = 0.05


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
            close_unawaited(suspended)
            raise
        if finished:
            close_unawaited(suspended)
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
                    [r.key for r in part],
                )
                if not await self._put_unless_paused(channel, tp, batch):
                    await self.seek(tp, records[start].offset)  # fetched again on resume
                    del pending[tp]
                    continue
                self._handed_over(tp, batch)
                if start + len(part) < len(records):
                    pending[tp] = (records, start + len(part), batch.offsets[-1] + 1)
                else:
                    del pending[tp]

    async def _put_unless_paused(self, channel: BulkChannel, tp: Any, batch: RawBatch) -> bool:
        """Queue ``batch``, waiting while the channel is full, unless ``tp`` is paused
        meanwhile (False). A full queue holds the fetcher, and with it every other topic:
        a role that stops taking batches (back-pressure) pauses their partitions, so the
        others (events.fused, whose progress lifts the pause) are fetched on."""
        while True:
            if not channel.full():
                await channel.put(batch)  # at once: no timer for the usual case
                return True
            try:
                await asyncio.wait_for(channel.put(batch), _FULL_QUEUE_POLL_S)
                return True
            except TimeoutError:
                if tp in self._paused_partitions:
                    return False

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
