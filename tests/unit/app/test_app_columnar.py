"""Columnar JSON batches for links and cases."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from streams.contracts.columnar import ColumnarError, decode_columns, encode_columns, rows
from streams.contracts.fused import StringColumn

_DT = np.dtype([("id", "<u8"), ("pad", "u1"), ("x", "<f8"), ("t", "<i8")])


def _table() -> np.ndarray:
    a = np.zeros(4, dtype=_DT)
    a["id"] = [1, 2**63 + 5, 2**64 - 1, 7]
    a["x"] = [0.5, -1.25, 3.0e-7, 1e300]
    a["t"] = [-(2**62), 0, 2**62, 1_690_765_200_000]
    return a


def test_round_trip_of_strided_fields_and_big_unsigned_ids() -> None:
    a = _table()
    assert not a["id"].flags.c_contiguous  # a field of a structured array is a strided view
    cols = {
        "id": a["id"],
        "x": a["x"],
        "t": a["t"],
        "every_other": np.arange(8, dtype=np.int32)[::2],
        "ref": ["a", "b", "ü", ""],
    }
    kind, n, got = decode_columns(encode_columns("links", cols), "links")
    assert (kind, n) == ("links", 4)
    assert list(got) == list(cols)
    assert got["id"] == [1, 2**63 + 5, 2**64 - 1, 7]
    assert np.array_equal(np.asarray(got["id"], dtype=np.uint64), a["id"])
    assert np.array_equal(np.asarray(got["x"], dtype=np.float64), a["x"])
    assert got["t"] == a["t"].tolist()
    assert got["every_other"] == [0, 2, 4, 6]
    assert got["ref"] == ["a", "b", "ü", ""]
    assert rows(got)[1] == {
        "id": 2**63 + 5,
        "x": -1.25,
        "t": 0,
        "every_other": 2,
        "ref": "b",
    }


def test_empty_batch() -> None:
    assert decode_columns(encode_columns("cases", {})) == ("cases", 0, {})
    assert decode_columns(encode_columns("cases", {"a": np.zeros(0)})) == ("cases", 0, {"a": []})
    assert rows({"a": []}) == []


def test_length_mismatch_is_refused_both_ways() -> None:
    with pytest.raises(ColumnarError, match="differ in length"):
        encode_columns("links", {"a": np.arange(3), "b": [1, 2]})
    doc = {"v": 1, "kind": "links", "n": 3, "columns": {"a": [1, 2, 3], "b": [1, 2]}}
    with pytest.raises(ColumnarError, match="'b'"):
        decode_columns(orjson.dumps(doc))


def test_wrong_kind_version_or_shape_is_refused() -> None:
    data = encode_columns("links", {"a": [1]})
    with pytest.raises(ColumnarError, match="expected a 'cases' batch"):
        decode_columns(data, "cases")
    for bad in (
        b"not json",
        b"[1, 2]",
        orjson.dumps({"v": 2, "kind": "links", "n": 0, "columns": {}}),
        orjson.dumps({"v": 1, "kind": "links", "columns": {}}),
        orjson.dumps({"v": 1, "kind": "links", "n": 1, "columns": {"a": 5}}),
    ):
        with pytest.raises(ColumnarError):
            decode_columns(bad)


def test_large_batches_split_into_bounded_messages_in_order() -> None:
    from streams.contracts.columnar import encode_chunks

    ids = np.arange(25, dtype=np.uint64)
    messages = encode_chunks("links", {"event_id": ids, "ref": [str(i) for i in range(25)]}, 10)
    assert len(messages) == 3
    back = [decode_columns(m, "links")[2] for m in messages]
    assert [len(b["event_id"]) for b in back] == [10, 10, 5]
    assert [v for b in back for v in b["event_id"]] == list(range(25))
    assert [v for b in back for v in b["ref"]] == [str(i) for i in range(25)]


@pytest.mark.parametrize(
    "values",
    [
        ["ref-1", "", "ü北京", "a b", "x" * 300],
        ['say "hi"', "back\\slash", "tab\there", "ok"],  # bytes JSON escapes
        [],
    ],
)
def test_a_string_column_of_fused_events_is_the_json_of_its_strings(values: list[str]) -> None:
    """Written straight from its bytes (no Python string per row), as the encoder would
    write the list; taken rows, joined parts and slices (the chunks) too."""
    column = StringColumn.from_list(values)
    assert column.json_array() == orjson.dumps(values)
    if not values:
        return
    picked = np.array([len(values) - 1, 0, 1])
    taken = StringColumn.join([column.take(picked), StringColumn.from_list(["z"]), column])
    expected = [values[i] for i in picked] + ["z"] + values
    assert taken.json_array() == orjson.dumps(expected)
    n = len(expected)
    chunks = [encode_columns("links", {"ref": taken[i : i + 2]}) for i in range(0, n, 2)]
    assert [v for c in chunks for v in decode_columns(c)[2]["ref"]] == expected
    assert taken == expected and list(taken) == expected


def test_a_string_column_that_is_not_utf8_is_refused_as_before() -> None:
    column = StringColumn(np.array([0, 2], dtype=np.uint32), b"\xff\xfe")
    with pytest.raises(UnicodeDecodeError):
        column.json_array()
    with pytest.raises(UnicodeDecodeError):
        column.to_list()
