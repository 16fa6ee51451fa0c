"""Raw topics consumed in bulk (streams/app/faust_internals/bulk.py): the real
Faust consumer of the worker's app, its fetch from the broker replaced by a recorder. These
tests read Faust's own bookkeeping (read offsets, acked offsets, the offset a commit would
take), so they fail when a Faust upgrade changes it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.app.faust_internals import HANDOFFS, App, RawBatch
from streams.contracts.topics import RAW_TOPICS
from streams.settings import Settings


@dataclass(frozen=True)
class _Record:  # the fields of aiokafka's ConsumerRecord that the hand-over reads
    offset: int
    timestamp: int
    value: bytes | None
    key: bytes | None


def _records(offsets: list[int]) -> list[_Record]:
    return [_Record(o, 1_000 + o, b"v%d" % o, b"k%d" % o if o % 2 else None) for o in offsets]


def _app(tmp_path: Any, batch_max_events: int = 4) -> tuple[App, TP, TP]:
    from streams.app.factory import create_app

    s = Settings(home=tmp_path).replace(app_id="bulk-test", batch_max_events=batch_max_events)
    app = create_app(s, ["normalize"])
    app.flow_control.resume()  # as after the first assignment
    raw = TP(s.kafka.topic(RAW_TOPICS["sensor"]), 0)
    other = TP("some.stream", 0)
    return app, raw, other


def _fetching(monkeypatch: pytest.MonkeyPatch, fetched: list[dict[TP, list[_Record]]]) -> None:
    async def fetch(self: Any, active_partitions: Any, timeout: float) -> dict:
        return fetched.pop(0)

    monkeypatch.setattr(faust_aiokafka.Consumer, "_getmany", fetch)


def test_raw_records_are_handed_over_per_partition_in_batches(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, raw, other = _app(tmp_path)
    _fetching(monkeypatch, [{raw: _records(list(range(10, 16))), other: _records([3])}])
    before = HANDOFFS.bulk

    async def main() -> tuple[Any, list[RawBatch]]:
        channel = app.bulk_channels[raw.topic]
        left = await app.consumer._getmany({raw, other}, 1.0)
        batches = [await channel.get()]
        channel.done(batches[0])
        batches.append(await channel.get())
        return left, batches

    left, batches = asyncio.run(main())
    assert list(left) == [other]  # what is not bulk goes Faust's way
    assert [b.offsets for b in batches] == [[10, 11, 12, 13], [14, 15]]
    assert batches[1].timestamps_ms == [1_014, 1_015] and batches[1].values == [b"v14", b"v15"]
    assert batches[1].keys == [None, b"k15"]  # the dedup role routes fused frames by key
    assert [b.ack_from for b in batches] == [10, 14]
    assert app.consumer._read_offset[raw] == 15
    assert HANDOFFS.bulk - before == 6
    assert app.monitor.messages_received_by_topic[raw.topic] == 6


def test_a_batch_is_acknowledged_only_when_done_and_commits_past_skipped_offsets(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offsets 13 and 14 never come (transaction markers, say): the commit goes past them,
    as Faust's gap tracking does for messages; nothing commits before ``done``."""
    app, raw, _ = _app(tmp_path, batch_max_events=100)
    _fetching(monkeypatch, [{raw: _records([10, 11, 12])}, {raw: _records([15, 16])}])

    async def main() -> list[Any]:
        await app.topics._update_indices()  # the subscription: raw topics are acked topics
        consumer = app.consumer
        consumer._committed_offset[raw] = 10
        channel = app.bulk_channels[raw.topic]
        seen = []
        for _ in range(2):
            await consumer._getmany({raw}, 1.0)
            batch = await channel.get()
            seen.append(consumer._new_offset(raw))  # in hand: nothing to commit
            channel.done(batch)
            offset = consumer._new_offset(raw)
            seen.append(offset)
            consumer._committed_offset[raw] = offset  # what a commit of it records
        return seen

    assert asyncio.run(main()) == [None, 13, None, 17]


def test_batches_of_an_earlier_generation_or_a_stopped_flow_are_skipped(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Faust's stream skips such messages: they are fetched again from the committed
    offsets after the rebalance. A batch in hand when the flow stops is still acknowledged
    (the revocation waits for it)."""
    app, raw, _ = _app(tmp_path, batch_max_events=2)
    _fetching(monkeypatch, [{raw: _records([0, 1, 2, 3])}, {raw: _records([7])}])

    async def main() -> list[Any]:
        await app.topics._update_indices()  # the subscription: raw topics are acked topics
        consumer = app.consumer
        channel = app.bulk_channels[raw.topic]
        await consumer._getmany({raw}, 1.0)  # two batches, generation 0
        first = await channel.get()
        app.flow_control.suspend()  # a rebalance starts
        channel.done(first)  # in hand: still acknowledged
        app.flow_control.resume()
        app.consumer_generation_id += 1  # the second batch is stale now
        await consumer._getmany({raw}, 1.0)
        fresh = await channel.get()
        return [first.offsets, fresh.offsets, sorted(consumer._acked[raw])]

    assert asyncio.run(main()) == [[0, 1], [7], [0, 1]]


def test_a_revocation_waits_for_the_batch_in_hand(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, raw, _ = _app(tmp_path)
    _fetching(monkeypatch, [{raw: _records([0, 1])}])
    trace: list[str] = []

    async def main() -> None:
        consumer = app.consumer
        channel = app.bulk_channels[raw.topic]
        await consumer._getmany({raw}, 1.0)
        batch = await channel.get()

        async def finish() -> None:
            await asyncio.sleep(0.05)
            trace.append("done")
            channel.done(batch)

        async def no_commit(*args: Any, **kwargs: Any) -> bool:
            return False

        monkeypatch.setattr(consumer, "commit", no_commit)
        monkeypatch.setattr(consumer, "commit_and_end_transactions", no_commit)
        finishing = asyncio.ensure_future(finish())
        await consumer.wait_empty()
        trace.append("waited")
        await finishing

    asyncio.run(main())
    assert trace == ["done", "waited"]


def test_get_before_done_is_refused(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, raw, _ = _app(tmp_path)
    _fetching(monkeypatch, [{raw: _records([0])}])

    async def main() -> None:
        channel = app.bulk_channels[raw.topic]
        await app.consumer._getmany({raw}, 1.0)
        await channel.get()
        await channel.get()

    with pytest.raises(RuntimeError, match="before done"):
        asyncio.run(main())


def test_an_abandoned_batch_is_not_acknowledged_and_ends_the_channel(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler that failed gives its batch up: nothing of it is acknowledged, and no later
    batch is (its ack would let the commit pass over the abandoned one)."""
    app, raw, _ = _app(tmp_path, batch_max_events=1)
    _fetching(monkeypatch, [{raw: _records([0, 1])}])

    async def main() -> list[int]:
        await app.topics._update_indices()
        consumer = app.consumer
        channel = app.bulk_channels[raw.topic]
        await consumer._getmany({raw}, 1.0)
        await channel.get()
        channel.abandon()
        await asyncio.wait_for(channel.wait_idle(lambda: False), 1.0)  # a revocation goes on
        with pytest.raises(RuntimeError, match="abandoned"):
            await channel.get()
        return sorted(consumer._acked[raw])

    assert asyncio.run(main()) == []


def test_a_full_channel_whose_partition_pauses_lets_the_fetcher_go_on(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A role that stops taking batches pauses their partitions: the hand-over waiting on
    the full queue gives the rest of the fetch up (fetched again from where it stopped,
    after the resume) instead of holding the fetcher, and so every other topic."""
    app, raw, _ = _app(tmp_path, batch_max_events=1)
    app.bulk_channels[raw.topic]._queue = asyncio.Queue(1)
    _fetching(monkeypatch, [{raw: _records([0, 1, 2])}])
    seeks: list[tuple[TP, int]] = []

    async def main() -> list[int]:
        consumer = app.consumer

        async def seek(tp: TP, offset: int) -> None:
            seeks.append((tp, offset))

        monkeypatch.setattr(consumer, "seek", seek)

        async def pause_soon() -> None:
            await asyncio.sleep(0.1)
            consumer.pause_partitions([raw])

        pausing = asyncio.ensure_future(pause_soon())
        await asyncio.wait_for(consumer._getmany({raw}, 1.0), 2.0)
        await pausing
        return [(await app.bulk_channels[raw.topic].get()).offsets[0], consumer._read_offset[raw]]

    assert asyncio.run(main()) == [0, 0]  # one batch queued, read offset stays with it
    assert seeks == [(raw, 1)]


def test_faust_events_become_batches_per_partition_in_their_order() -> None:
    """The dedup role's agent path (a process where the sink's agent reads events.fused
    too) hands its chunks to the same handler as the bulk path."""
    from types import SimpleNamespace

    from streams.app.faust_internals import batches_of_events

    a, b = TP("events.fused", 0), TP("events.fused", 1)

    def event(tp: TP, offset: int) -> Any:
        message = SimpleNamespace(
            tp=tp, offset=offset, timestamp=offset + 0.5, key=b"7", value=b"v"
        )
        return SimpleNamespace(message=message)

    batches = batches_of_events([event(a, 4), event(b, 9), event(a, 5)], generation=3)
    assert [(x.tp, x.offsets, x.ack_from, x.generation) for x in batches] == [
        (a, [4, 5], 4, 3),
        (b, [9], 9, 3),
    ]
    assert batches[0].timestamps_ms == [4_500, 5_500] and batches[0].keys == [b"7", b"7"]
