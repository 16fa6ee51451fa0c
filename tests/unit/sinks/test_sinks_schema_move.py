"""Moving a compat-path database to the modern path (chdb): every BI view answers the same
in both, so the two paths store the same facts and their views agree on them."""

from __future__ import annotations

from typing import Any

import pytest

from sinks.kpi.queries import BI_VIEWS
from sinks.migrate import COMPAT, MODERN, MigrationError, load_migrations, migrate, schema_path
from sinks.retention import Retention
from sinks.rollups import refresh_all
from sinks.schema_move import move_to_modern
from sinks.sql import ChdbExecutor
from sinks.synthetic import generate
from tests.unit.sinks.conftest import TZ, insert_columns

# the synthetic store is from 2023: a retention that keeps all of it
KEEP = Retention(patrol_track_days=36500, dead_letter_payload_days=36500)


def _views(ex: ChdbExecutor, database: str) -> dict[str, list[str]]:
    return {
        view: sorted(repr(sorted(r.items())) for r in ex.query(f"SELECT * FROM {database}.{view}"))
        for view in BI_VIEWS
    }


@pytest.fixture
def compat_db(chdb_executor: ChdbExecutor, chdb_db: str) -> str:
    migrate(chdb_executor, chdb_db, TZ, path=COMPAT)
    for table, columns in generate(240, seed=20230731).tables.items():
        insert_columns(chdb_executor, chdb_db, table, columns)
    return chdb_db


@pytest.fixture
def target_db(chdb_executor: ChdbExecutor, chdb_db: str) -> Any:
    name = f"{chdb_db}_modern"
    yield name
    chdb_executor.execute(f"DROP DATABASE IF EXISTS {name}")


def test_a_moved_database_answers_every_view_as_before(
    chdb_executor: ChdbExecutor, compat_db: str, target_db: str
) -> None:
    before = _views(chdb_executor, compat_db)
    assert sum(len(rows) for rows in before.values()) > 100
    result = move_to_modern(chdb_executor, compat_db, target_db, TZ, KEEP)
    assert result.rows["cases"] > 0 and "rollup_case_rows" not in result.rows
    assert schema_path(chdb_executor, target_db) == MODERN
    assert _views(chdb_executor, target_db) == before  # every month computed live in both
    assert migrate(chdb_executor, target_db, TZ) == []


def test_rollups_answer_alike_on_both_paths(
    chdb_executor: ChdbExecutor, compat_db: str, target_db: str
) -> None:
    move_to_modern(chdb_executor, compat_db, target_db, TZ, KEEP)
    for database in (compat_db, target_db):
        refreshed = refresh_all(chdb_executor, database)
        assert all(r.months for r in refreshed.values()), database  # read from the rollups
    # the stored sums (a hotspot's mean position) add up in another order than live ones
    for view in BI_VIEWS:
        want = _rows(chdb_executor, compat_db, view)
        got = _rows(chdb_executor, target_db, view)
        assert len(got) == len(want), view
        for g, w in zip(got, want, strict=True):
            assert _exact(g) == _exact(w), view
            assert _floats(g) == pytest.approx(_floats(w)), view


def _exact(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not isinstance(v, float)}


def _floats(row: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in row.items() if isinstance(v, float)}


def _rows(ex: ChdbExecutor, database: str, view: str) -> list[dict[str, Any]]:
    rows = ex.query(f"SELECT * FROM {database}.{view}")
    return sorted(rows, key=lambda r: repr(_exact(r)))


def test_a_move_needs_a_new_target_and_a_current_compat_source(
    chdb_executor: ChdbExecutor, compat_db: str, target_db: str
) -> None:
    with pytest.raises(MigrationError, match="already has tables"):
        move_to_modern(chdb_executor, compat_db, compat_db, TZ, KEEP)
    migrate(chdb_executor, target_db, TZ, path=MODERN)
    with pytest.raises(MigrationError, match="not a database on the compat path"):
        move_to_modern(chdb_executor, target_db, f"{target_db}_2", TZ, KEEP)
    behind = f"{target_db}_old"
    migrate(chdb_executor, behind, TZ, load_migrations()[:5], path=COMPAT)
    try:
        with pytest.raises(MigrationError, match="run `citystream db migrate` first"):
            move_to_modern(chdb_executor, behind, f"{target_db}_3", TZ, KEEP)
    finally:
        chdb_executor.execute(f"DROP DATABASE IF EXISTS {behind}")
