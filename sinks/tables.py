"""The stored tables as the writer sees them: column names, types, and numpy coercion.

The migrations (``sinks/migrations``) create the tables and are the one definition of
their columns; :data:`TABLES` reads them (in order, for the columnar inserts). It reads the
base files only: the modern path's overlays store the same columns, some of them as
``LowCardinality`` of the same type, which the driver writes from the same arrays
(docs/schema.md).
Time columns (``DateTime``) are given as epoch **milliseconds** like everywhere else in the
pipeline (``None`` or 0 = not yet) and stored as seconds; ``Date`` columns as dates (or
days since 1970-01-01).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = [
    "TABLES",
    "Column",
    "ColumnsError",
    "coerce_columns",
    "column_definitions",
    "n_rows",
    "rows_to_columns",
    "tables_of",
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
        "Date": np.dtype(np.uint16),  # days since 1970 (the rollup tables' period starts)
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
        return np.dtype(object) if self.type.startswith(_STATE) else _DTYPES[self.type]


_CREATE = re.compile(
    r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+) \((.*?)\)\s*ENGINE", re.DOTALL | re.IGNORECASE
)
_ADD_COLUMN = re.compile(
    r"ALTER TABLE \{db\}\.(\w+)\s+ADD COLUMN(?: IF NOT EXISTS)? (\w+) (\w+)(?: AFTER (\w+))?",
    re.IGNORECASE,
)
_COLUMN = re.compile(r"^\s*(\w+) (\w+|AggregateFunction\([\w, ]+\)),?\s*(?:--.*)?$")
# aggregate states (the rollup tables, filled by INSERT ... SELECT, never by the writer)
_STATE = "AggregateFunction("


def _column(table: str, name: str, type_name: str) -> Column:
    if type_name not in _DTYPES and not type_name.startswith(_STATE):
        raise ColumnsError(f"{table}.{name}: type {type_name} has no numpy column type here")
    return Column(name, type_name)


def column_definitions(
    body: str, column: re.Pattern[str]
) -> Iterator[tuple[str, re.Match[str] | None]]:
    """The column lines of a CREATE TABLE body (blank and comment lines left out), each with
    its match of ``column`` (None: a line the caller cannot read)."""
    for line in body.splitlines():
        text = line.strip()
        if text and not text.startswith("--"):
            yield text, column.match(line)


def _create(table: str, body: str) -> list[Column]:
    columns = []
    for line, match in column_definitions(body, _COLUMN):
        if match is None:
            raise ColumnsError(f"{table}: cannot read the column definition {line!r}")
        columns.append(_column(table, match.group(1), match.group(2)))
    return columns


def tables_of(templates: Sequence[str]) -> dict[str, tuple[Column, ...]]:
    """The tables (and their column order) that these migration templates leave behind.

    Reads the two statements the migrations use on tables: ``CREATE TABLE`` with one
    ``name Type`` per line and ``ALTER TABLE ... ADD COLUMN name Type [AFTER other]``.
    """
    found: dict[str, list[Column]] = {}
    for template in templates:
        for match in _CREATE.finditer(template):
            found[match.group(1)] = _create(match.group(1), match.group(2))
        for match in _ADD_COLUMN.finditer(template):
            table, name, type_name, after = match.groups()
            if table not in found:
                raise ColumnsError(f"ALTER TABLE {table}: the table is not created before")
            columns = found[table]
            at = len(columns)
            if after is not None:
                at = 1 + [c.name for c in columns].index(after)
            columns.insert(at, _column(table, name, type_name))
    return {table: tuple(columns) for table, columns in found.items()}


class _MigratedTables(Mapping[str, tuple[Column, ...]]):
    """The tables as the migrations create them, read on first use (not at import)."""

    @functools.cached_property
    def _tables(self) -> dict[str, tuple[Column, ...]]:
        from sinks.migrate import load_migrations

        return tables_of([m.template for m in load_migrations()])

    def __getitem__(self, name: str) -> tuple[Column, ...]:
        return self._tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)


# table -> its columns in order: one definition, the migrations; this is their reading
TABLES: Mapping[str, tuple[Column, ...]] = _MigratedTables()


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
    if column.type == "Date":
        epoch = date(1970, 1, 1)
        days = [(v - epoch).days if isinstance(v, date) else v for v in values]
        try:
            return np.asarray(days, dtype=column.dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ColumnsError(f"{table}.{column.name}: not dates: {exc}") from exc
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
