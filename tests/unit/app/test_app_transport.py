"""The fetcher-to-conductor hand-off: a coroutine run inline until it first suspends,
then carried on by a task exactly as if it had been awaited from the start."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.app.transport import Resumed, run_until_suspended


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
