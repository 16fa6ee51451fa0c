"""The stored tables as the writer sees them: column names, types, and numpy coercion.

The migrations (``sinks/migrations``) create the tables; :data:`TABLES` lists the same
columns in the same order for the columnar inserts, and a unit test checks the two agree.
Time columns (``DateTime``) are given as epoch **milliseconds** like everywhere else in the
pipeline (``None`` or 0 = not yet) and stored as seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = [
    "TABLES",
    "Column",
    "ColumnsError",
    "coerce_columns",
    "n_rows",
    "rows_to_columns",
]

# ClickHouse type -> numpy dtype of the column handed to clickhouse-driver (numpy mode)
_DTYPES: Mapping[str, np.dtype[Any]] = MappingProxyType(
    {
        "UInt8": np.dtype(np.uint8),
        "UInt16": np.dtype(np.uint16),
        "UInt32": np.dtype(np.uint32),
        "UInt64": np.dtype(np.uint64),
        "Int32": np.dtype(np.int32),
        "Int64": np.dtype(np.int64),
        "Float64": np.dtype(np.float64),
        "String": np.dtype(object),
        "DateTime": np.dtype(np.uint32),
    }
)


class ColumnsError(ValueError):
    """Columns handed to the writer do not fit the table."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str

    @property
    def dtype(self) -> np.dtype[Any]:
        return _DTYPES[self.type]


def _spec(text: str) -> tuple[Column, ...]:
    columns = []
    for item in text.split(","):
        name, type_name = item.split()
        if type_name not in _DTYPES:
            raise ColumnsError(f"column {name}: unsupported type {type_name}")
        columns.append(Column(name, type_name))
    return tuple(columns)


TABLES: Mapping[str, tuple[Column, ...]] = MappingProxyType(
    {
        "events": _spec(
            "event_id UInt64, source UInt8, category UInt16, flags UInt8, lat Float64, "
            "lon Float64, event_time DateTime, ingest_time DateTime, device_hash UInt64, "
            "source_ref String, device_id String, reporter String, department String, "
            "text String, address String, grid_code String"
        ),
        "cases": _spec(
            "case_id UInt64, version UInt64, category_key String, department String, "
            "grid_code String, community String, street String, lat Float64, lon Float64, "
            "opened_at DateTime, dispatched_at DateTime, deadline DateTime, "
            "signed_at DateTime, handled_at DateTime, closed_at DateTime, "
            "voided_at DateTime, status String, rework_count UInt16, recurrence_of UInt64, "
            "n_events UInt32, urgent UInt8, fixed_on_spot UInt8"
        ),
        "links": _spec(
            "event_id UInt64, case_id UInt64, source UInt8, source_ref String, is_new UInt8, "
            "recurrence_of UInt64, event_time DateTime, flags UInt8"
        ),
        "case_stages": _spec(
            "transition_id String, case_id UInt64, seq UInt32, action String, "
            "from_status String, to_status String, ts DateTime, actor String, "
            "department String, update_id String, note String, deadline DateTime"
        ),
        "dispatches": _spec(
            "case_id UInt64, category_key String, department String, urgent UInt8, "
            "opened_at DateTime, dispatched_at DateTime, dispatch_due DateTime, "
            "dispatched_on_time UInt8, deadline_value Float64, deadline_unit String, "
            "deadline DateTime"
        ),
        "dead_letters": _spec(
            "dl_id UInt64, source String, reason String, message String, original String, "
            "topic String, partition Int32, offset Int64, received_at DateTime"
        ),
        "patrol_tracks": _spec(
            "inspector_id String, role String, department String, ts DateTime, lat Float64, "
            "lon Float64, grid_code String"
        ),
        "patrol_visits": _spec(
            "inspector_id String, role String, department String, grid_code String, "
            "community String, street String, visited_at DateTime"
        ),
    }
)


def _table(name: str) -> tuple[Column, ...]:
    try:
        return TABLES[name]
    except KeyError:
        raise ColumnsError(f"unknown table {name!r}; tables: {', '.join(TABLES)}") from None


def _coerce_one(table: str, column: Column, values: Any) -> np.ndarray:
    if column.type == "String":
        if isinstance(values, np.ndarray) and values.dtype == object:
            missing = values == None  # noqa: E711 (element-wise, on an object array)
            if not missing.any():
                return values  # the fast path: no copy, no Python loop
            return np.where(missing, "", values)
        array = np.empty(len(values), dtype=object)
        array[:] = ["" if v is None else v for v in values]
        return array
    if column.type == "DateTime":
        if isinstance(values, list | tuple):
            values = [0 if v is None else v for v in values]
        ms = np.asarray(values, dtype=np.int64)
        if ms.size and ms.min() < 0:
            raise ColumnsError(f"{table}.{column.name}: times must be epoch ms >= 0")
        return (ms // 1000).astype(np.uint32)
    try:
        return np.asarray(values, dtype=column.dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ColumnsError(f"{table}.{column.name}: not {column.type}: {exc}") from exc


def coerce_columns(table: str, columns: Mapping[str, Any]) -> list[np.ndarray]:
    """The table's columns, in table order, as numpy arrays ready for a columnar insert."""
    spec = _table(table)
    names = {c.name for c in spec}
    unknown = set(columns) - names
    missing = names - set(columns)
    if unknown or missing:
        raise ColumnsError(
            f"{table}: unknown column(s) {sorted(unknown)}, missing column(s) {sorted(missing)}"
        )
    arrays = [_coerce_one(table, c, columns[c.name]) for c in spec]
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ColumnsError(f"{table}: columns have different lengths {sorted(lengths)}")
    return arrays


def rows_to_columns(table: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Row dicts (keys = column names) as columns; every row needs every column."""
    spec = _table(table)
    try:
        return {c.name: [row[c.name] for row in rows] for c in spec}
    except KeyError as exc:
        raise ColumnsError(f"{table}: a row lacks column {exc.args[0]!r}") from None


def n_rows(columns: Mapping[str, Any]) -> int:
    """Number of rows of a column mapping (0 when it has no columns)."""
    for values in columns.values():
        return len(values)
    return 0
