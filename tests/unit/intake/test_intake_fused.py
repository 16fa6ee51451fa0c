"""The fused batch frame: round trips, zero-copy decode, and clear errors on bad frames."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contracts import fused
from streams.contracts.fused import (
    EVENT_DTYPE,
    STRING_COLUMNS,
    FusedBatch,
    FusedFormatError,
    decode_batch,
    device_hash,
    encode_batch,
    event_id_for,
)

_U64 = st.integers(0, 2**64 - 1)
_I64 = st.integers(-(2**63), 2**63 - 1)
_F64 = st.floats(allow_nan=False)
_ROW = st.tuples(
    _U64,
    st.integers(0, 2),
    st.integers(0, 65535),
    st.integers(0, 255),
    _F64,
    _F64,
    _I64,
    _I64,
    _U64,
    st.integers(0, 65535),
    st.integers(0, 2**63 - 1),
    st.lists(st.text(max_size=12), min_size=len(STRING_COLUMNS), max_size=len(STRING_COLUMNS)),
)


def _batch(rows: list[tuple]) -> FusedBatch:
    names = list(EVENT_DTYPE.names or ())
    fixed = {name: [r[i] for r in rows] for i, name in enumerate(names)}
    strings = {name: [r[-1][i] for r in rows] for i, name in enumerate(STRING_COLUMNS)}
    fixed_arrays = {k: np.array(v, dtype=EVENT_DTYPE[k]) for k, v in fixed.items()}
    return FusedBatch.from_columns(fixed_arrays, strings, n=len(rows))


@settings(max_examples=60, deadline=None)
@given(st.lists(_ROW, max_size=20))
def test_round_trip_keeps_every_column(rows: list[tuple]) -> None:
    batch = _batch(rows)
    back = decode_batch(encode_batch(batch))
    assert back.events.tobytes() == batch.events.tobytes()
    for name in STRING_COLUMNS:
        assert back.column(name) == [r[-1][STRING_COLUMNS.index(name)] for r in rows]
    assert len(back) == len(rows)


def test_decode_is_zero_copy_and_read_only() -> None:
    batch = _batch(
        [(7, 1, 101, 1, 35.7, 114.3, 5, 6, 0, 2, 9, ["a", "", "ü", "municipal", "t", ""])]
    )
    frame = encode_batch(batch)
    back = decode_batch(frame)
    assert not back.events.flags.owndata
    assert not back.events.flags.writeable
    assert back.events.flags.aligned
    assert back.events["category"][0] == 101
    assert back.strings["reporter"][0] == "ü"


def test_dtype_layout_is_little_endian_and_8_aligned() -> None:
    assert EVENT_DTYPE.itemsize == 64
    eight = ("event_id", "lat", "lon", "event_time_ms", "ingest_time_ms", "device_hash")
    for name in (*eight, "origin_seq"):
        assert EVENT_DTYPE.fields[name][1] % 8 == 0
        assert EVENT_DTYPE[name].byteorder in ("<", "=")
    assert list(EVENT_DTYPE.names)[:4] == ["event_id", "source", "category", "flags"]


def test_empty_batch_round_trips() -> None:
    back = decode_batch(encode_batch(FusedBatch.empty()))
    assert len(back) == 0
    assert back.column("text") == []


def _frame() -> bytes:
    row = (1, 0, 1, 0, 1.0, 2.0, 3, 4, 5, 6, 7, ["r", "d", "p", "m", "x", "a"])
    return encode_batch(_batch([row]))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: b"XXXX" + f[4:], "bad magic"),
        (lambda f: f[:4] + struct.pack("<H", 3) + f[6:], "unsupported fused format version 3"),
        (lambda f: f[:10], "shorter than"),
        (lambda f: f[:60], "truncated"),
        (lambda f: f + b"z", "frame length"),
        (lambda f: f[:-1], "frame length"),
        (lambda f: f[:12] + struct.pack("<I", 48) + f[16:], "record size"),
    ],
)
def test_bad_frames_are_rejected_clearly(mutate, message: str) -> None:
    with pytest.raises(FusedFormatError, match=message):
        decode_batch(mutate(_frame()))


def test_decreasing_offsets_are_rejected() -> None:
    frame = bytearray(_frame())
    offsets_at = 24 + 64
    struct.pack_into("<I", frame, offsets_at + 4, 5)  # source_ref offsets [0, 5] -> len 5
    with pytest.raises(FusedFormatError):
        decode_batch(bytes(frame))


def test_event_id_is_stable_and_source_scoped() -> None:
    a = event_id_for("sensor", "GW03-0000123")
    expected = int.from_bytes(hashlib.blake2b(b"sensor:GW03-0000123").digest()[:8], "little")
    assert a == expected
    assert a == event_id_for("sensor", "GW03-0000123")
    assert a != event_id_for("patrol", "GW03-0000123")
    assert device_hash("") == 0
    assert device_hash("4106110101000123") not in (0, a)


def test_zero_hash_is_mapped_to_one(monkeypatch: pytest.MonkeyPatch) -> None:
    class Zero:
        def digest(self) -> bytes:
            return bytes(64)

    monkeypatch.setattr(fused.hashlib, "blake2b", lambda data: Zero())
    assert event_id_for("sensor", "x") == 1
    assert device_hash("d") == 1


def test_take_and_concat_keep_rows_together() -> None:
    rows = [
        (i, 0, i, 0, float(i), 0.0, i, i, 0, 0, i, [f"r{i}", "", "", "m", f"t{i}", ""])
        for i in range(5)
    ]
    batch = _batch(rows)
    part = batch.take(np.array([3, 1]))
    assert part.events["event_id"].tolist() == [3, 1]
    assert part.column("source_ref") == ["r3", "r1"]
    joined = FusedBatch.concat([part, batch.take([4])])
    assert joined.column("text") == ["t3", "t1", "t4"]


def test_batch_validates_its_columns() -> None:
    with pytest.raises(FusedFormatError, match="missing string"):
        FusedBatch.from_columns({}, {"source_ref": []})
    with pytest.raises(FusedFormatError, match="unknown fixed"):
        FusedBatch.from_columns({"nope": [1]}, {n: ["x"] for n in STRING_COLUMNS})
    with pytest.raises(FusedFormatError, match="rows"):
        strings = {n: ["x"] for n in STRING_COLUMNS}
        strings["text"] = []
        FusedBatch.from_columns({}, strings, n=1)


def test_take_from_a_decoded_frame_copies_the_right_bytes() -> None:
    texts = ["甲", "", "abc", "ü" * 3, "z"]
    rows = [
        (i, 0, 1, 0, 0.0, 0.0, 0, 0, 0, 0, 0, ["r", "", "", "m", t, ""])
        for i, t in enumerate(texts)
    ]
    decoded = decode_batch(encode_batch(_batch(rows)))
    part = decoded.take(np.array([4, 0, 3, 1], dtype=np.int64))
    assert part.column("text") == ["z", "甲", "üüü", ""]
    assert decode_batch(encode_batch(part)).column("text") == ["z", "甲", "üüü", ""]
    assert len(decoded.take(np.array([], dtype=np.int64))) == 0


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(_ROW, min_size=1, max_size=12),
    picks=st.lists(st.lists(st.integers(0, 11), max_size=14), min_size=1, max_size=3),
    blank=st.lists(st.booleans(), min_size=14, max_size=14),
)
def test_chained_takes_and_blanking_match_python_lists(
    rows: list[tuple], picks: list[list[int]], blank: list[bool]
) -> None:
    batch = decode_batch(encode_batch(_batch(rows)))
    expected = {name: [r[-1][i] for r in rows] for i, name in enumerate(STRING_COLUMNS)}
    for pick in picks:  # take of a take of a take: only row selections, no bytes copied
        pick = [p % len(batch) for p in pick] if len(batch) else []
        batch = batch.take(np.array(pick, dtype=np.int64))
        expected = {k: [v[p] for p in pick] for k, v in expected.items()}
        assert {k: batch.column(k) for k in STRING_COLUMNS} == expected
    flags = np.array(blank[: len(batch)], dtype=bool)
    blanked = batch.take(np.arange(len(batch)), blank_strings=flags)
    for name in STRING_COLUMNS:
        want = ["" if f else s for s, f in zip(expected[name], flags.tolist(), strict=True)]
        assert decode_batch(encode_batch(blanked)).column(name) == want
    assert np.array_equal(blanked.events, batch.events)  # fixed columns untouched


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(st.lists(_ROW, max_size=6), min_size=1, max_size=4),
    pick=st.lists(st.integers(0, 23), max_size=20),
    blank=st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_joined_columns_read_alike_as_parts_and_gathered(
    batches: list[list[tuple]], pick: list[int], blank: list[bool]
) -> None:
    """A concat keeps the string columns as parts: reading them part by part, after a
    take, serialising, blanking and a concat of concats give the joined lists."""
    parts = [decode_batch(encode_batch(_batch(rows))) for rows in batches]
    expected = {
        n: [r[-1][i] for rows in batches for r in rows] for i, n in enumerate(STRING_COLUMNS)
    }
    joined = FusedBatch.concat(
        [parts[0], FusedBatch.concat(parts[1:])] if len(parts) > 1 else parts
    )
    assert {k: joined.column(k) for k in STRING_COLUMNS} == expected
    pick = [p % len(joined) for p in pick] if len(joined) else []
    taken = joined.take(np.array(pick, dtype=np.int64))
    want = {k: [v[p] for p in pick] for k, v in expected.items()}
    assert {k: taken.column(k) for k in STRING_COLUMNS} == want
    if pick:  # one string by its row
        assert taken.strings["text"][len(pick) - 1] == want["text"][-1]
    flags = np.array(blank[: len(taken)], dtype=bool)
    blanked = decode_batch(encode_batch(taken.take(np.arange(len(taken)), blank_strings=flags)))
    for name in STRING_COLUMNS:
        got = ["" if f else s for s, f in zip(want[name], flags.tolist(), strict=True)]
        assert blanked.column(name) == got
    assert decode_batch(encode_batch(taken)).column("source_ref") == want["source_ref"]


def test_version_1_frames_are_read_with_unknown_origins() -> None:
    """Changelogs written before the origin columns still load (origin_seq 0 = unknown)."""
    batch = decode_batch(_frame())
    v1 = np.zeros(1, dtype=fused._V1_DTYPE)
    for name in fused._V1_DTYPE.names or ():
        v1[name] = batch.events[name]
    frame = bytearray(_frame())
    struct.pack_into("<HHI", frame, 4, 1, 0, 1)  # version 1, reserved, one event
    struct.pack_into("<I", frame, 12, 56)  # record size of version 1
    old = bytes(frame[:24]) + v1.tobytes() + bytes(frame[24 + 64 :])
    back = decode_batch(old)
    assert back.events["event_id"].tolist() == [1]
    assert back.events["device_hash"].tolist() == [5]
    assert back.events["origin_seq"].tolist() == [0]
    assert back.column("source_ref") == ["r"]
