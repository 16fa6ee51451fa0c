"""Batching, offsets, backoff and backpressure of the sink, with fake writers and clocks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from clickhouse_driver import errors as ch_errors

from sinks.base import Sink, SinkBackpressure, SinkBatch, SinkError, StoreUnavailable
from sinks.clickhouse import ClickHouseSink
from sinks.tables import ColumnsError
from streams.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSink(Sink):
    """Rows are lists of ints; the store can be switched off."""

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        options = {"batch_rows": 10, "batch_ms": 500, "max_buffered_rows": 30}
        options.update(kwargs)
        super().__init__(clock=clock, retry_initial_s=1.0, retry_max_s=8.0, **options)
        self.up = True
        self.written: list[tuple[str, int, list[int]]] = []
        self.attempts = 0

    def prepare(self, topic: str, data: Any) -> tuple[Any, int]:
        return list(data), len(data)

    def write(self, batch: SinkBatch) -> None:
        self.attempts += 1
        if not self.up:
            raise StoreUnavailable("down")
        rows = [r for chunk in batch.chunks for r in chunk]
        self.written.append((batch.topic, batch.partition, rows))


def test_full_batch_is_written_and_its_offsets_become_committable() -> None:
    sink = FakeSink(Clock())
    sink.add("t", 0, 7, range(6))
    assert sink.written == [] and sink.committable() == {}
    sink.add("t", 0, 8, range(6, 12))
    assert sink.written == [("t", 0, list(range(12)))]
    assert sink.committable() == {("t", 0): 9}
    assert sink.buffered_rows == 0


def test_partitions_batch_separately_and_keep_offset_order() -> None:
    sink = FakeSink(Clock())
    sink.add("t", 0, 1, [1, 2])
    sink.add("t", 1, 1, [10])
    sink.add("t", 0, 2, [3])
    sink.flush()
    assert sorted(sink.written) == [("t", 0, [1, 2, 3]), ("t", 1, [10])]
    assert sink.committable() == {("t", 0): 3, ("t", 1): 2}


def test_poll_writes_batches_older_than_batch_ms_only() -> None:
    clock = Clock()
    sink = FakeSink(clock)
    sink.add("t", 0, 0, [1])
    clock.now += 0.2
    sink.add("t", 1, 0, [2])
    clock.now += 0.35  # partition 0 is 0.55 s old, partition 1 0.35 s
    sink.poll()
    assert sink.written == [("t", 0, [1])]
    clock.now += 0.2
    sink.poll()
    assert sink.written == [("t", 0, [1]), ("t", 1, [2])]


def test_outage_buffers_then_pushes_back_without_taking_rows() -> None:
    clock = Clock()
    sink = FakeSink(clock)
    sink.up = False
    sink.add("t", 0, 0, range(10))  # full: write fails, stays buffered, backoff 1 s
    sink.add("t", 0, 1, range(10))
    sink.add("t", 0, 2, range(10))
    assert sink.buffered_rows == 30 and sink.committable() == {}
    with pytest.raises(SinkBackpressure) as info:
        sink.add("t", 0, 3, range(5))
    assert 0 < info.value.retry_after_s <= 1.0
    assert sink.buffered_rows == 30  # the rejected rows were not taken
    with pytest.raises(SinkBackpressure):
        sink.flush()


def test_backoff_doubles_up_to_the_limit_and_resets_after_success() -> None:
    clock = Clock()
    sink = FakeSink(clock)
    sink.up = False
    sink.add("t", 0, 0, range(10))
    delays = []
    for _ in range(6):
        delays.append(sink.retry_after_s())
        clock.now += sink.retry_after_s()
        sink.poll()
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    attempts = sink.attempts
    sink.poll()  # inside the backoff window: no attempt
    assert sink.attempts == attempts
    sink.up = True
    clock.now += sink.retry_after_s()
    sink.poll()
    assert sink.retry_after_s() == 0 and sink.written == [("t", 0, list(range(10)))]


def test_catch_up_after_the_store_returns_loses_nothing() -> None:
    clock = Clock()
    sink = FakeSink(clock)
    sent: list[int] = []
    offset = 0
    for step in range(40):
        sink.up = not (10 <= step < 25)
        rows = list(range(step * 3, step * 3 + 3))
        try:
            sink.add("t", 0, offset, rows)
        except SinkBackpressure as exc:
            clock.now += exc.retry_after_s  # the consumer pauses; the rows stay in Kafka
            continue
        sent.extend(rows)
        offset += 1
        clock.now += 0.1
        sink.poll()
    sink.up = True
    sink.drain(timeout_s=60, sleep=lambda s: setattr(clock, "now", clock.now + s))
    stored = [r for _, _, rows in sink.written for r in rows]
    assert stored == sent
    assert sink.committable() == {("t", 0): offset}


def test_single_message_larger_than_the_cap_is_taken_when_the_buffer_is_empty() -> None:
    sink = FakeSink(Clock(), max_buffered_rows=30)
    sink.add("t", 0, 0, range(45))
    assert sink.written == [("t", 0, list(range(45)))]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_buffered_rows"):
        FakeSink(Clock(), batch_rows=10, max_buffered_rows=5)


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[np.ndarray]]] = []
        self.fail: BaseException | None = None
        self.disconnects = 0

    def execute(self, sql: str, params: Any = None, columnar: bool = False) -> None:
        assert columnar
        if self.fail is not None:
            raise self.fail
        self.calls.append((sql, params))

    def disconnect(self) -> None:
        self.disconnects += 1


def _sink(client: FakeClient) -> ClickHouseSink:
    settings = load_settings(env={}, sink_batch_rows=4, sink_batch_ms=1000)
    return ClickHouseSink(settings, database="cs_test", client=client, clock=Clock())


def _links(ids: list[int]) -> dict[str, Any]:
    n = len(ids)
    return {
        "event_id": ids,
        "case_id": ids,
        "source": [1] * n,
        "source_ref": ["r"] * n,
        "is_new": [1] * n,
        "recurrence_of": [0] * n,
        "event_time": [1_690_000_000_123] * n,
        "flags": [0] * n,
    }


def test_clickhouse_sink_inserts_numpy_columns_into_the_routed_table() -> None:
    client = FakeClient()
    sink = _sink(client)
    sink.add("links", 0, 0, _links([1, 2]))
    sink.add(
        "links",
        0,
        1,
        [dict(zip(_links([3]), v, strict=True)) for v in zip(*_links([3]).values(), strict=True)],
    )
    sink.flush()
    ((sql, arrays),) = client.calls
    assert sql.startswith("INSERT INTO cs_test.links (event_id, case_id, source,")
    assert arrays[0].dtype == np.uint64 and arrays[0].tolist() == [1, 2, 3]
    assert arrays[-2].dtype == np.uint32 and arrays[-2].tolist() == [1_690_000_000] * 3


def test_clickhouse_sink_turns_network_errors_into_backoff() -> None:
    client = FakeClient()
    client.fail = ch_errors.NetworkError("connection refused")
    sink = _sink(client)
    sink.add("links", 0, 0, _links([1, 2, 3, 4]))
    assert sink.buffered_rows == 4 and client.disconnects == 1
    assert sink.retry_after_s() > 0


def test_clickhouse_sink_raises_on_non_transient_server_errors() -> None:
    client = FakeClient()
    client.fail = ch_errors.ServerException("Unknown table", code=60)
    sink = _sink(client)
    with pytest.raises(SinkError, match="Unknown table"):
        sink.add("links", 0, 0, _links([1, 2, 3, 4]))


def test_clickhouse_sink_validates_rows_when_they_are_added() -> None:
    sink = _sink(FakeClient())
    with pytest.raises(ColumnsError, match="missing column"):
        sink.add("links", 0, 0, {"event_id": [1]})
    with pytest.raises(SinkError, match="no table for topic"):
        sink.add("raw.sensor", 0, 0, _links([1]))
    bad = _links([1])
    bad["event_time"] = [-5]
    with pytest.raises(ColumnsError, match="epoch ms"):
        sink.add("links", 0, 0, bad)
