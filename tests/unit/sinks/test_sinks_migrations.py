"""Migrations run on a current ClickHouse (chdb), are idempotent and detect drift."""

from __future__ import annotations

import re

import pytest

from sinks.kpi.queries import BI_VIEWS
from sinks.migrate import (
    PATHS,
    Migration,
    MigrationError,
    load_migrations,
    migrate,
    migration_status,
)
from sinks.overlay import value_type
from sinks.sql import ChdbExecutor, SqlError, render, split_statements
from sinks.tables import TABLES

TZ = "Asia/Shanghai"
VIEWS = ["case_facts", "kpi_case_counts", *BI_VIEWS]


def test_files_are_numbered_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(re.fullmatch(r"[a-z0-9_]+", m.name) for m in migrations)


@pytest.mark.parametrize("path", PATHS)
def test_migrate_creates_every_table_as_the_writer_expects(
    chdb_executor: ChdbExecutor, chdb_db: str, path: str
) -> None:
    applied = migrate(chdb_executor, chdb_db, TZ, path=path)
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    for table, spec in TABLES.items():
        described = chdb_executor.query(f"DESCRIBE TABLE {chdb_db}.{table}")
        got = [(r["name"], r["type"]) for r in described]
        if path == "modern":  # the same values, stored in a dictionary or not
            got = [(name, value_type(type_name)) for name, type_name in got]
        assert got == [(c.name, c.type) for c in spec]


def test_every_view_answers_on_an_empty_store(
    chdb_executor: ChdbExecutor, migrated_db: str
) -> None:
    for view in VIEWS:
        assert chdb_executor.query(f"SELECT count() AS n FROM {migrated_db}.{view}") == [{"n": 0}]


def test_second_run_is_a_no_op(chdb_executor: ChdbExecutor, migrated_db: str) -> None:
    before = chdb_executor.query(f"SELECT count() AS n FROM {migrated_db}.schema_migrations")
    assert migrate(chdb_executor, migrated_db, TZ) == []
    after = chdb_executor.query(f"SELECT count() AS n FROM {migrated_db}.schema_migrations")
    assert before == after
    rules = chdb_executor.query(f"SELECT count() AS n FROM {migrated_db}.patrol_rules FINAL")
    assert rules == [{"n": 3}]
    states = {s.state for s in migration_status(chdb_executor, migrated_db)}
    assert states == {"applied"}


def test_status_of_a_missing_database_is_all_pending(
    chdb_executor: ChdbExecutor, chdb_db: str
) -> None:
    statuses = migration_status(chdb_executor, chdb_db)
    assert [s.state for s in statuses] == ["pending"] * len(load_migrations())


def test_edited_migration_is_an_error(chdb_executor: ChdbExecutor, migrated_db: str) -> None:
    migrations = load_migrations()
    first = migrations[0]
    edited = [Migration(first.version, first.name, first.template + "\n-- edited\n")]
    edited += migrations[1:]
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate(chdb_executor, migrated_db, TZ, edited)
    assert migration_status(chdb_executor, migrated_db, edited)[0].state == "drifted"


def test_unknown_applied_version_is_an_error(chdb_executor: ChdbExecutor, migrated_db: str) -> None:
    with pytest.raises(MigrationError, match="does not know"):
        migrate(chdb_executor, migrated_db, TZ, load_migrations()[:1])


def test_new_migration_is_applied_after_the_old_ones(
    chdb_executor: ChdbExecutor, migrated_db: str
) -> None:
    extra = Migration(
        len(load_migrations()) + 1,
        "extra",
        "CREATE TABLE IF NOT EXISTS {db}.extra (x UInt8) ENGINE = MergeTree() ORDER BY x;\n",
    )
    applied = migrate(chdb_executor, migrated_db, TZ, [*load_migrations(), extra])
    assert applied == [extra]
    assert chdb_executor.query(f"SELECT count() AS n FROM {migrated_db}.extra") == [{"n": 0}]


def test_a_column_added_by_a_half_finished_run_is_not_added_again(
    chdb_executor: ChdbExecutor, chdb_db: str
) -> None:
    migrations = load_migrations()
    adds = [m for m in migrations if "ADD COLUMN" in m.template]
    assert adds, "some migration adds a column"
    first = adds[0]
    migrate(chdb_executor, chdb_db, TZ, migrations[: first.version - 1])
    # the run that failed after the ALTER: its column is there, its version is not recorded
    alter = next(st for st in first.statements(chdb_db, TZ) if "ADD COLUMN" in st)
    chdb_executor.execute(alter)
    with pytest.raises(Exception, match="already exists"):
        chdb_executor.execute(alter)  # the statement itself cannot be repeated
    applied = migrate(chdb_executor, chdb_db, TZ)
    assert [m.version for m in applied] == [m.version for m in migrations[first.version - 1 :]]


def test_split_statements_ignores_comments_and_blank_parts() -> None:
    text = "-- a comment; with a semicolon\nSELECT 1;\n\n  SELECT 'a;b'\n  ;\nSELECT 2"
    assert split_statements(text) == ["SELECT 1", "SELECT 'a;b'", "SELECT 2"]


@pytest.mark.parametrize(
    ("database", "tz"),
    [("bad-name", "UTC"), ("x; DROP TABLE y", "UTC"), ("ok", "Asia/Shanghai'; --")],
)
def test_render_refuses_values_that_are_not_names(database: str, tz: str) -> None:
    with pytest.raises(SqlError):
        render("SELECT 1 FROM {db}.t WHERE toDate(x, '{tz}') > 0", database=database, tz=tz)


def test_tables_are_read_from_creates_and_added_columns() -> None:
    from sinks.tables import ColumnsError, tables_of

    created = (
        "CREATE TABLE IF NOT EXISTS {db}.t (\n    a UInt64,\n    b String -- why\n) ENGINE = X;"
    )
    added = "ALTER TABLE {db}.t ADD COLUMN IF NOT EXISTS c UInt8 AFTER a;\n"
    added += "ALTER TABLE {db}.t ADD COLUMN d DateTime;"
    got = tables_of([created, added])
    assert [(c.name, c.type) for c in got["t"]] == [
        ("a", "UInt64"),
        ("c", "UInt8"),
        ("b", "String"),
        ("d", "DateTime"),
    ]
    with pytest.raises(ColumnsError, match="not created before"):
        tables_of(["ALTER TABLE {db}.u ADD COLUMN x UInt8;"])
    with pytest.raises(ColumnsError, match="no numpy column type"):
        tables_of(["CREATE TABLE IF NOT EXISTS {db}.v (\n    x Decimal\n) ENGINE = X;"])
