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


def test_no_stream_records_are_fetched_while_the_group_rebalances(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust's recovery clears the stream queues when it resumes its flow, after its seek
    to the committed offsets: a stream record fetched before the rebalance has ended would
    be lost. While rebalancing only the tables' changelogs are fetched (the fetch from the
    broker is replaced by a recorder; nothing is contacted)."""
    from faust.transport.drivers import aiokafka as faust_aiokafka
    from faust.types import TP

    from streams.app.factory import create_app
    from streams.settings import Settings

    asked: list[set[TP]] = []

    async def fetch(self: Any, active_partitions: set[TP], timeout: float) -> dict:
        asked.append(set(active_partitions))
        return {"fetched": True}

    monkeypatch.setattr(faust_aiokafka.Consumer, "_getmany", fetch)

    async def main() -> list[Any]:
        app = create_app(Settings(home=tmp_path).replace(app_id="gate-test"), ["escalation"])
        consumer = app.consumer
        changelog = TP(app.tables["escalation-cases"].changelog_topic.get_topic_name(), 0)
        stream = TP("case.state", 0)
        app.rebalancing = True
        during = await consumer._getmany({changelog, stream}, 1.0)
        held = await consumer._getmany({stream}, 1.0)
        app.rebalancing = False
        after = await consumer._getmany({changelog, stream}, 1.0)
        return [during, held, after]

    assert asyncio.run(main()) == [{"fetched": True}, {}, {"fetched": True}]
    # the stream partition waits for the end of the rebalance
    assert [sorted(tp.topic.endswith("changelog") for tp in a) for a in asked] == [
        [True],
        [False, True],
    ]


def test_partitions_without_a_committed_offset_are_sought_to_their_beginning(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiokafka's seek to the committed offsets leaves alone a partition whose offset is
    missing or 0, so what an earlier generation fetched and the flow's resume cleared
    would never come again: those stream partitions go back to their beginning (not the
    changelogs, which the recovery positions)."""
    from faust.transport.drivers import aiokafka as faust_aiokafka
    from faust.types import TP

    from streams.app.factory import create_app
    from streams.settings import Settings

    never, zero, done = TP("case.state", 0), TP("case.state", 1), TP("case.state", 2)
    committed = {never: None, zero: 0, done: 5}

    async def seek_to_committed(self: Any) -> dict:
        return dict(committed)

    monkeypatch.setattr(faust_aiokafka.Consumer, "seek_to_committed", seek_to_committed)

    async def main() -> tuple[Any, list[TP]]:
        app = create_app(Settings(home=tmp_path).replace(app_id="seek-test"), ["escalation"])
        changelog = TP(app.tables["escalation-cases"].changelog_topic.get_topic_name(), 0)
        committed[changelog] = None
        consumer = app.consumer
        sought: list[TP] = []

        async def seek_to_beginning(*tps: TP) -> None:
            sought.extend(tps)

        monkeypatch.setattr(consumer._thread, "seek_to_beginning", seek_to_beginning)
        monkeypatch.setattr(app.topics, "acks_enabled_for", lambda topic: topic == "case.state")
        return await consumer.seek_to_committed(), sought

    result, sought = asyncio.run(main())
    assert result[done] == 5
    assert sought == [never, zero]


class _TP:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition


class _Consumer:
    def __init__(self, tps: list[_TP]) -> None:
        self.tps = tps
        self.paused: set[tuple[str, int]] = set()

    def assignment(self) -> set[_TP]:
        return set(self.tps)

    def pause_partitions(self, tps: list[_TP]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in tps}

    def resume_partitions(self, tps: list[_TP]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in tps}


class _App:
    held: frozenset[tuple[str, int]] = frozenset()
    rebalancing = False

    def __init__(self, consumer: _Consumer) -> None:
        self.consumer = consumer


def test_held_partitions_are_paused_and_the_rest_resumed() -> None:
    from streams.app.faust_internals import hold_partitions

    consumer = _Consumer([_TP("raw.sensor", 0), _TP("raw.patrol", 0), _TP("events.fused", 0)])
    app = _App(consumer)
    # a partition this worker is not assigned is not its to pause
    assert hold_partitions(app, {("raw.patrol", 0), ("raw.hotline", 0)}) == 1
    assert consumer.paused == {("raw.patrol", 0)}
    assert hold_partitions(app, {("raw.sensor", 0)}) == 1
    assert consumer.paused == {("raw.sensor", 0)}
    app.rebalancing = True  # Faust pauses and resumes everything itself meanwhile
    assert hold_partitions(app, set()) == 1
    assert consumer.paused == {("raw.sensor", 0)}
    app.rebalancing = False
    assert hold_partitions(app, set()) == 0
    assert consumer.paused == set()


def test_an_agent_that_raises_ends_the_worker(tmp_path: Any) -> None:
    """Faust wires every agent's errors to the app's hook (a Faust that stops doing so
    fails here), and the hook ends the process instead of restarting the agent."""
    from streams.app.factory import create_app
    from streams.app.faust_internals import AGENT_ERROR_EXIT
    from streams.settings import Settings

    exits: list[int] = []

    async def main() -> None:
        # a role with agents (normalize consumes its raw topics in bulk, by a task)
        app = create_app(Settings(home=tmp_path).replace(app_id="crash-test"), ["escalation"])
        app.exit_process = exits.append
        agents = list(app.agents.values())
        assert agents and all(a._on_error == app._on_agent_error for a in agents)
        await agents[0]._on_error(agents[0], RuntimeError("a bug"))

    asyncio.run(main())
    assert exits == [AGENT_ERROR_EXIT]


def test_the_last_fetch_time_is_read_where_faust_and_aiokafka_keep_it() -> None:
    """``last_poll_ms`` (access.py) reads ``consumer._thread._ensure_consumer()`` and its
    ``last_poll_timestamp(tp)``; the heartbeat's unit tests use a stand-in, so this fails
    when Faust or aiokafka move either."""
    import inspect

    from aiokafka import AIOKafkaConsumer
    from faust.transport.drivers import aiokafka as faust_aiokafka

    assert callable(getattr(faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer", None))
    assert list(inspect.signature(AIOKafkaConsumer.last_poll_timestamp).parameters) == [
        "self",
        "partition",
    ]
