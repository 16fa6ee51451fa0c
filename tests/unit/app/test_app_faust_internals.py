"""The fetcher-to-conductor hand-off: a coroutine run inline until it first suspends,
then carried on by a task exactly as if it had been awaited from the start."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.app.faust_internals import Resumed, run_until_suspended


async def _no_suspension(trace: list[str]) -> str:
    trace.append("ran")
    return "done"


async def _waits_for(fut: asyncio.Future[int], trace: list[str]) -> int:
    trace.append("before")
    value = await fut
    trace.append(f"got {value}")
    await asyncio.sleep(0)  # a bare yield too
    trace.append("after")
    return value * 2


def test_a_coroutine_that_never_suspends_finishes_inline() -> None:
    trace: list[str] = []
    assert run_until_suspended(_no_suspension(trace)) == (True, "done")
    assert trace == ["ran"]


def test_errors_of_the_inline_step_propagate() -> None:
    async def broken() -> None:
        raise KeyError("bad message")

    with pytest.raises(KeyError, match="bad message"):
        run_until_suspended(broken())


def test_a_suspended_coroutine_resumes_in_a_task() -> None:
    async def main() -> tuple[int, list[str]]:
        trace: list[str] = []
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        coro = _waits_for(fut, trace)
        finished, yielded = run_until_suspended(coro)
        assert not finished and yielded is fut and trace == ["before"]
        task = asyncio.ensure_future(Resumed(coro, yielded))
        await asyncio.sleep(0)
        assert not task.done()
        fut.set_result(21)
        return await task, trace

    result, trace = asyncio.run(main())
    assert result == 42
    assert trace == ["before", "got 21", "after"]


def test_cancelling_the_task_cancels_the_resumed_coroutine() -> None:
    async def main() -> list[str]:
        trace: list[str] = []

        async def cleanup_on_cancel(fut: asyncio.Future[Any]) -> None:
            try:
                await fut
            except asyncio.CancelledError:
                trace.append("cancelled inside")
                raise

        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        coro = cleanup_on_cancel(fut)
        _, yielded = run_until_suspended(coro)
        task = asyncio.ensure_future(Resumed(coro, yielded))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return trace

    assert asyncio.run(main()) == ["cancelled inside"]


def test_the_app_consumer_hands_messages_over_inline(tmp_path: Any) -> None:
    """The worker's consumer is this transport's, and its per-message wait runs a callback
    that never suspends inline, one that does as Faust would (no broker is contacted)."""
    from streams.app.factory import create_app
    from streams.app.faust_internals import Consumer
    from streams.settings import Settings

    async def main() -> list[str]:
        app = create_app(Settings(home=tmp_path).replace(app_id="transport-test"), ["normalize"])
        consumer = app.consumer
        assert isinstance(consumer, Consumer)
        trace: list[str] = []
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def quick() -> None:
            trace.append("quick")

        async def slow() -> None:
            trace.append(f"slow {await fut}")

        quick_result = await consumer.wait_first(quick(), consumer.suspend_flow.wait())
        assert quick_result.done and not quick_result.stopped
        asyncio.get_running_loop().call_later(0.01, fut.set_result, 7)
        slow_result = await consumer.wait_first(slow(), consumer.suspend_flow.wait())
        assert slow_result.done and not slow_result.stopped
        return trace

    assert asyncio.run(main()) == ["quick", "slow 7"]
