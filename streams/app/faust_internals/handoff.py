"""Faust's per-message hand-off from the fetcher to the conductor, made cheaper.

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

The fast path counts its hits (:data:`HANDOFFS`, exported as a worker metric); the
closures integration test (a per-message topic: case.updates) fails when a run takes
no inline hand-off, which is what a Faust that changed the call shape of ``wait_first``
would silently cause.
"""

from __future__ import annotations

import inspect
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["HANDOFFS", "Handoffs", "Resumed", "close_unawaited", "run_until_suspended"]


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


def close_unawaited(awaitable: Any) -> None:
    """Close a coroutine that will never be awaited (no "never awaited" warning)."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()
