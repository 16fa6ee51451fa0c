"""Columnar JSON messages: one Kafka message carries a batch of rows as named columns.

Links and cases come out of dedup at up to hundreds of thousands per second; a JSON
object per row would cost more than the dedup itself. A message is
``{"v": 1, "kind": ..., "n": rows, "columns": {name: [values...]}}``: any consumer can
read it with a JSON parser, and the sink turns each column into one numpy array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from streams.contracts.fused import StringColumn

__all__ = [
    "COLUMNAR_VERSION",
    "MAX_ROWS_PER_MESSAGE",
    "ColumnarError",
    "decode_columns",
    "encode_chunks",
    "encode_columns",
    "rows",
]

COLUMNAR_VERSION = 1
# A catch-up can release a whole tile's backlog at once; messages stay far below the
# broker's message size limit (see topics.py) however large the release.
MAX_ROWS_PER_MESSAGE = 10_000


class ColumnarError(ValueError):
    """A message is not a valid columnar batch."""


def encode_columns(kind: str, columns: Mapping[str, Any]) -> bytes:
    """Serialise equal-length columns (numpy arrays or lists) of one batch."""
    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ColumnarError(f"{kind}: columns differ in length: {lengths}")
    n = next(iter(lengths.values()), 0)
    # orjson serialises numpy arrays natively but only contiguous ones (a structured
    # array's field is a strided view); a string column of fused events goes in as the
    # JSON it makes of its bytes (no Python string per row)
    cols = {name: _encodable(col) for name, col in columns.items()}
    return orjson.dumps(
        {"v": COLUMNAR_VERSION, "kind": kind, "n": n, "columns": cols},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def _encodable(col: Any) -> Any:
    if isinstance(col, np.ndarray):
        return np.ascontiguousarray(col)
    if isinstance(col, StringColumn):
        return orjson.Fragment(col.json_array())
    return col


def encode_chunks(
    kind: str, columns: Mapping[str, Any], max_rows: int = MAX_ROWS_PER_MESSAGE
) -> list[bytes]:
    """The batch as one message per ``max_rows`` rows, in order."""
    n = len(next(iter(columns.values()), []))
    return [
        encode_columns(kind, {name: col[i : i + max_rows] for name, col in columns.items()})
        for i in range(0, n, max_rows)
    ]


def decode_columns(data: bytes, kind: str | None = None) -> tuple[str, int, dict[str, list[Any]]]:
    """``(kind, n, columns)`` of a message; checks version, kind and column lengths."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ColumnarError(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("v") != COLUMNAR_VERSION:
        raise ColumnarError("not a columnar batch of a known version")
    got = doc.get("kind")
    if kind is not None and got != kind:
        raise ColumnarError(f"expected a {kind!r} batch, got {got!r}")
    n, columns = doc.get("n"), doc.get("columns")
    if not isinstance(n, int) or not isinstance(columns, dict):
        raise ColumnarError("columnar batch lacks n or columns")
    for name, col in columns.items():
        if not isinstance(col, list) or len(col) != n:
            raise ColumnarError(f"column {name!r} does not have {n} values")
    return str(got), n, columns


def rows(columns: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The rows of a decoded batch as dicts (for the low-volume consumers)."""
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def as_array(values: Sequence[Any], dtype: Any) -> np.ndarray:
    return np.asarray(values, dtype=dtype)
