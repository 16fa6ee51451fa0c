"""Every use of Faust's internals, in one place: re-check this module on a Faust upgrade.

- the app's transport (``App._new_transport``), with a cheaper per-message hand-off;
- the consumer's read and committed offsets (``Consumer._read_offset`` and
  ``_committed_offset``), for lag and for knowing a raw partition is caught up.

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
"""

from __future__ import annotations

import inspect
from collections.abc import Coroutine, Generator
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults

__all__ = [
    "HANDOFFS",
    "App",
    "Consumer",
    "Handoffs",
    "Resumed",
    "Transport",
    "committed_offset",
    "last_read_offset",
    "run_until_suspended",
]


class Handoffs:
    """How the fetcher handed messages to the conductor in this process."""

    def __init__(self) -> None:
        self.inline = 0  # the callback finished without suspending: the fast path
        self.task = 0  # Faust's own path (suspended callback, flow control, shutdown)


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


def _close(awaitable: Any) -> None:
    """Close a coroutine that will never be awaited (no "never awaited" warning)."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


class App(faust.App):
    """Faust's app on the transport above."""

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)


def last_read_offset(consumer: Any, tp: Any) -> int | None:
    """Offset of the last message the consumer read from ``tp`` (None: none yet)."""
    value = consumer._read_offset[tp]
    return None if value is None else int(value)


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The consumer's last committed offset of ``tp`` (None: never committed)."""
    value = consumer._committed_offset[tp]
    return None if value is None else int(value)
