"""KPI view rows against the Python reference (``sinks/reference.py``), for the unit tests
(chdb) and the integration tests (the ClickHouse server) alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from sinks.sql import Executor
from sinks.tables import TABLES, rows_to_columns

__all__ = ["UNIT_KEY", "assert_rows_equal", "by_key", "stored_columns"]

Row = Mapping[str, Any]
UNIT_KEY = ("period", "period_start", "level", "unit")  # the per-unit KPI views


def by_key(rows: Iterable[Row], key: Sequence[str] = UNIT_KEY) -> dict[tuple[Any, ...], Row]:
    """The rows by the values of their ``key`` columns."""
    return {tuple(r[k] for k in key): r for r in rows}


def assert_rows_equal(
    rows: Iterable[Row], want: Mapping[Any, Row], key: Sequence[str] = UNIT_KEY
) -> dict[tuple[Any, ...], Row]:
    """The rows have exactly the keys of ``want``, and each value ``want`` names equal to
    within :func:`pytest.approx`. Returns the rows by key."""
    got = by_key(rows, key)
    missing, extra = set(want) - set(got), set(got) - set(want)
    assert not missing and not extra, (list(missing)[:5], list(extra)[:5])
    for k, want_row in want.items():
        for name, value in want_row.items():
            assert got[k][name] == pytest.approx(value), (k, name, got[k][name], value)
    return got


def stored_columns(ex: Executor, db: str, table: str) -> dict[str, list[Any]]:
    """A stored table as the Python references take it (times in ms, dates as dates)."""
    names = [
        f"toInt64(toUnixTimestamp({c.name})) * 1000 AS {c.name}"
        if c.type.startswith("DateTime")
        else c.name
        for c in TABLES[table]
    ]
    return rows_to_columns(table, ex.query(f"SELECT {', '.join(names)} FROM {db}.{table}"))
