"""Watermark frames, the combined watermark, and the canonical-order reorder buffer."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from app_events import T0_MS, make_batch

from streams.contracts.fused import FusedBatch, encode_batch
from streams.contracts.watermarks import (
    WatermarkFrame,
    decode_watermark,
    encode_watermark,
    is_watermark_frame,
)
from streams.dedup.engine import DedupEngine
from streams.dedup.ordering import (
    FOREVER,
    NEVER,
    ReorderBuffer,
    WatermarkTracker,
    sources_ahead,
)

# -- frames --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        WatermarkFrame("raw.sensor", 0, T0_MS),
        WatermarkFrame("t" * 249, 65535, -5, idle=True),
        WatermarkFrame("x", 7, int(np.iinfo(np.int64).max), idle=False),
        WatermarkFrame("p.raw.hotline", 3, int(np.iinfo(np.int64).min), idle=True),
    ],
)
def test_frame_round_trip(frame: WatermarkFrame) -> None:
    data = encode_watermark(frame)
    assert is_watermark_frame(data)
    assert decode_watermark(data) == frame


def test_topic_over_kafka_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        encode_watermark(WatermarkFrame("t" * 250, 0, 0))


def test_bad_frames_raise_value_error() -> None:
    good = encode_watermark(WatermarkFrame("raw.patrol", 1, T0_MS))
    for bad in (b"", good[:3], good[:10], b"XXXX" + good[4:], good + b"!", good[:-1]):
        with pytest.raises(ValueError):
            decode_watermark(bad)


def test_fused_batch_is_not_a_watermark_frame() -> None:
    assert not is_watermark_frame(encode_batch(make_batch([1], [T0_MS])))


# -- tracker -------------------------------------------------------------------------------

A, B, C = ("raw.sensor", 0), ("raw.hotline", 0), ("raw.patrol", 0)


def _frame(key: tuple[str, int], mark: int, idle: bool = False) -> WatermarkFrame:
    return WatermarkFrame(key[0], key[1], mark, idle)


def test_never_until_every_source_reported_then_min_of_active() -> None:
    tracker = WatermarkTracker(frozenset({A, B, C}))
    assert tracker.watermark() == NEVER
    tracker.update(_frame(A, 500))
    tracker.update(_frame(B, 300))
    assert tracker.watermark() == NEVER  # C has not said anything yet
    tracker.update(_frame(C, 900))
    assert tracker.watermark() == 300
    tracker.update(_frame(B, 700))
    assert tracker.watermark() == 500
    tracker.update(_frame(A, 100))  # an older frame never moves a mark back
    assert tracker.watermark() == 500


def test_idle_sources_are_ignored_and_all_idle_is_forever() -> None:
    tracker = WatermarkTracker(frozenset({A, B, C}))
    tracker.update(_frame(A, 500))
    tracker.update(_frame(B, 100, idle=True))
    assert tracker.watermark() == NEVER  # C never reported: still waiting for it
    tracker.update(_frame(C, 800))
    assert tracker.watermark() == 500  # B is idle: its low mark does not hold others back
    tracker.update(_frame(A, 600, idle=True))
    assert tracker.watermark() == 800
    tracker.update(_frame(C, 900, idle=True))
    assert tracker.watermark() == FOREVER
    tracker.update(_frame(B, 150))  # B wakes up
    assert tracker.watermark() == 150


def test_all_idle_before_everyone_reported_is_never() -> None:
    tracker = WatermarkTracker(frozenset({A, B}))
    tracker.update(_frame(A, 10, idle=True))
    assert tracker.watermark() == NEVER


def test_the_sources_ahead_are_those_no_watermark_waits_for() -> None:
    one, two = WatermarkTracker(frozenset({A, B, C})), WatermarkTracker(frozenset({A, B, C}))
    assert sources_ahead([one]) == set()  # nobody reported: the watermark waits for all
    one.update(_frame(A, 500))
    one.update(_frame(B, 300))
    assert sources_ahead([one]) == {A, B}  # C has no mark yet: the watermark waits for it
    one.update(_frame(C, 900))
    assert sources_ahead([one]) == {A, C}
    one.update(_frame(B, 100, idle=True))  # idle: nothing to pause, and A is the mark now
    assert sources_ahead([one]) == {C}
    for key, mark in ((A, 950), (B, 990), (C, 400)):
        two.update(_frame(key, mark))
    assert sources_ahead([two]) == {A, B}
    assert sources_ahead([one, two]) == set()  # A holds one watermark back, C the other


def test_unexpected_source_is_refused() -> None:
    tracker = WatermarkTracker(frozenset({A}))
    with pytest.raises(ValueError, match="unexpected"):
        tracker.update(_frame(("raw.sensor", 1), 10))


def test_state_round_trip_through_json() -> None:
    tracker = WatermarkTracker(frozenset({A, B, C}))
    tracker.update(_frame(A, 400))
    tracker.update(_frame(B, 200, idle=True))
    tracker.update(_frame(C, 700))
    restored = WatermarkTracker(frozenset({A, B, C}))
    restored.restore(orjson.loads(orjson.dumps(tracker.to_state())))
    assert restored.marks == tracker.marks
    assert restored.idle == tracker.idle
    assert restored.watermark() == tracker.watermark() == 400
    # A restored worker whose expected set shrank forgets the partitions it no longer has.
    smaller = WatermarkTracker(frozenset({A, C}))
    smaller.restore(tracker.to_state())
    assert set(smaller.marks) == {A, C}
    assert smaller.idle == set()


# -- reorder buffer ------------------------------------------------------------------------


def _ids(batch: FusedBatch) -> list[int]:
    return batch.events["event_id"].tolist()


def test_release_in_canonical_order_up_to_the_watermark() -> None:
    buf = ReorderBuffer()
    assert buf.add(make_batch([30, 10, 20], [T0_MS + 5, T0_MS + 5, T0_MS + 1])) == 3
    assert buf.add(make_batch([5, 40], [T0_MS + 9, T0_MS + 2])) == 2
    assert len(buf) == 5
    out = buf.release(T0_MS + 5)
    # (ingest, id): (1, 20) (2, 40) (5, 10) (5, 30); id 5 arrives at +9, after the mark
    assert _ids(out) == [20, 40, 10, 30]
    assert out.events["ingest_time_ms"].tolist() == sorted(out.events["ingest_time_ms"].tolist())
    assert out.column("source_ref") == [f"ref-{i}" for i in _ids(out)]
    assert len(buf) == 1
    assert len(buf.release(T0_MS + 8)) == 0
    assert _ids(buf.release(T0_MS + 9)) == [5]
    assert len(buf) == 0
    assert len(buf.release(FOREVER)) == 0


def test_redelivered_events_are_released_once() -> None:
    buf = ReorderBuffer()
    batch = make_batch([1, 2, 3], [T0_MS, T0_MS + 1, T0_MS + 2])
    assert buf.add(batch) == 3
    assert buf.add(batch) == 3
    assert buf.add(make_batch([3, 4], [T0_MS + 2, T0_MS + 3])) == 2
    assert _ids(buf.release(FOREVER)) == [1, 2, 3, 4]


def test_a_repeated_id_with_another_arrival_is_left_to_the_engine() -> None:
    buf = ReorderBuffer()
    buf.add(make_batch([7, 8], [T0_MS, T0_MS + 1]))
    buf.add(make_batch([7], [T0_MS + 5]))  # the source sent record 7 again
    out = buf.release(FOREVER)
    assert _ids(out) == [7, 8, 7]
    assert out.events["ingest_time_ms"].tolist() == [T0_MS, T0_MS + 1, T0_MS + 5]


def test_a_batch_straddling_the_watermark_is_split() -> None:
    buf = ReorderBuffer()
    buf.add(make_batch([1, 2, 3, 4], [T0_MS + 3, T0_MS, T0_MS + 9, T0_MS + 1]))
    assert _ids(buf.release(T0_MS + 3)) == [2, 4, 1]
    assert len(buf) == 1
    assert _ids(buf.snapshot()) == [3]
    assert _ids(buf.release(T0_MS + 9)) == [3]


def test_snapshot_and_restore_release_the_same_events() -> None:
    rng = np.random.default_rng(7)
    ids = rng.choice(10_000, size=40, replace=False).tolist()
    ingest = (T0_MS + rng.integers(0, 20, size=40)).tolist()
    buf = ReorderBuffer()
    buf.add(make_batch(ids[:25], ingest[:25]))
    buf.add(make_batch(ids[25:], ingest[25:]))
    first = buf.release(T0_MS + 9)
    restored = ReorderBuffer.restore(buf.snapshot())
    assert len(restored) == len(buf) == 40 - len(first)
    # events redelivered on top of the restored buffer are still released once
    pending = [(i, t) for i, t in zip(ids, ingest, strict=True) if t > T0_MS + 9]
    again = make_batch([i for i, _ in pending[:5]], [t for _, t in pending[:5]])
    assert restored.add(again) == len(again)
    a, b = buf.release(FOREVER), restored.release(FOREVER)
    assert _ids(a) == _ids(b)
    assert a.column("source_ref") == b.column("source_ref")
    expected = sorted((t, i) for i, t in pending)  # canonical order, computed independently
    assert _ids(a) == [i for _, i in expected]


# -- raw records absorbed once ----------------------------------------------------------------


def _with_origins(batch: FusedBatch, partition: int, seqs: list[int]) -> FusedBatch:
    events = batch.events.copy()
    events["origin_partition"] = partition
    events["origin_seq"] = seqs
    return FusedBatch(events, batch.strings)


def test_a_redelivered_raw_record_is_absorbed_once_however_old() -> None:
    buf = ReorderBuffer()
    first = _with_origins(make_batch([1, 2, 3], [T0_MS, T0_MS + 1, T0_MS + 2]), 0, [10, 11, 11])
    assert buf.add(first) == 3  # two events of one raw record (offset 10) come together
    released = buf.release(T0_MS + 10)
    assert released.events["event_id"].tolist() == [1, 2, 3]
    # days later a crash redelivers offsets 10..12: only the new record 12 is absorbed
    again = _with_origins(make_batch([2, 3, 4], [T0_MS + 1, T0_MS + 2, T0_MS + 3]), 0, [11, 11, 12])
    assert buf.add(again) == 1
    assert buf.release(T0_MS + 10).events["event_id"].tolist() == [4]
    # another raw partition, and events of unknown origin, are not affected
    other = _with_origins(make_batch([5], [T0_MS + 4]), 1, [3])
    unknown = make_batch([6], [T0_MS + 5])
    assert buf.add(other) == 1 and buf.add(unknown) == 1
    assert buf.absorbed == {(0, 0): 12, (0, 1): 3}


def test_absorbed_origins_survive_the_tile_record(engine: DedupEngine) -> None:
    from streams.dedup.snapshot import decode_tile_record, encode_tile_record

    buf = ReorderBuffer()
    buf.add(_with_origins(make_batch([1, 2], [T0_MS, T0_MS + 1]), 4, [100, 101]))
    _, back = decode_tile_record(encode_tile_record(engine.new_tile(7), buf))
    assert back.absorbed == {(0, 4): 101}
    assert len(back) == 2
    assert back.add(_with_origins(make_batch([2], [T0_MS + 1]), 4, [101])) == 0
