"""KPI view rows against the Python reference (``sinks/reference.py``), for the unit tests
(chdb) and the integration tests (the ClickHouse server) alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

__all__ = ["UNIT_KEY", "assert_rows_equal", "by_key"]

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
