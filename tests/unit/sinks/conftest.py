"""chdb fixtures: one in-process current-ClickHouse session, a fresh database per test.

``migrated_db`` is on the modern schema path (docs/schema.md), so every KPI check against
its Python reference here runs on the modern storage; the compat path's run on the
18.16 server (tests/integration)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from sinks.migrate import MODERN, migrate
from sinks.sql import ChdbExecutor, string_literal
from sinks.tables import TABLES, coerce_columns

TZ = "Asia/Shanghai"


@pytest.fixture(scope="session")
def chdb_executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbExecutor]:
    # chdb allows one live session per process: the whole run shares it
    executor = ChdbExecutor(str(tmp_path_factory.mktemp("chdb")))
    yield executor
    executor.close()


@pytest.fixture
def chdb_db(chdb_executor: ChdbExecutor) -> Iterator[str]:
    """A fresh database name (not yet created)."""
    name = "u_" + uuid.uuid4().hex[:12]
    yield name
    chdb_executor.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def migrated_db(chdb_executor: ChdbExecutor, chdb_db: str) -> str:
    migrate(chdb_executor, chdb_db, TZ, path=MODERN)
    return chdb_db


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(int(value))


def insert_columns(
    executor: ChdbExecutor, database: str, table: str, columns: Mapping[str, Any]
) -> None:
    """Insert columns (times in ms, as for the sink) with a VALUES statement."""
    arrays = coerce_columns(table, columns)
    names = [c.name for c in TABLES[table]]
    if not len(arrays[0]):
        return
    rows = zip(*(a.tolist() for a in arrays), strict=True)
    values = ",".join("(" + ",".join(_literal(v) for v in row) + ")" for row in rows)
    executor.execute(f"INSERT INTO {database}.{table} ({', '.join(names)}) VALUES {values}")


@pytest.fixture
def insert(chdb_executor: ChdbExecutor) -> Callable[[str, str, Mapping[str, Any]], None]:
    def _insert(database: str, table: str, columns: Mapping[str, Any]) -> None:
        insert_columns(chdb_executor, database, table, columns)

    return _insert
