"""Move a compat-path database to the modern path (docs/schema.md, "Moving a database").

A database keeps the path it was built on (:func:`sinks.migrate.choose_path`): partition
and sort keys cannot be altered in place, and rebuilding tables behind a running sink
would race its inserts. The move builds a new database on the modern path and copies
every stored table into it with ``INSERT ... SELECT`` (the server converts the columns to
their modern storage). The rollup tables are not copied: their watermarks are the source
tables' block numbers, which the copy renumbers, so every month reads as stale (computed
live, the same figures) until ``citystream db rollup`` refreshes them. Rows the sink
writes to the old database during the copy are not in the new one: stop the sink first,
or replay the topics since the copy began into the new database (storage is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

from sinks.migrate import (
    COMPAT,
    MODERN,
    Migration,
    MigrationError,
    load_migrations,
    migrate,
    migration_status,
    schema_path,
)
from sinks.retention import Retention
from sinks.rollups import FAMILIES
from sinks.sql import Executor, check_identifier
from sinks.tables import TABLES

__all__ = ["MoveResult", "move_to_modern"]

# derived from other tables and rebuilt by the refresh job (sinks/rollups.py)
_ROLLUP_TABLES = frozenset(
    {"rollup_generations", *(table for pairs in FAMILIES.values() for table, _ in pairs)}
)


@dataclass(frozen=True)
class MoveResult:
    source: str
    target: str
    rows: dict[str, int]  # table -> rows copied (before merges: duplicates included)


def _count(ex: Executor, database: str, table: str) -> int:
    return int(ex.query(f"SELECT count() AS n FROM {database}.{table}")[0]["n"])


def _check_source(ex: Executor, source: str, migrations: list[Migration]) -> None:
    if schema_path(ex, source) != COMPAT:
        raise MigrationError(f"{source} is not a database on the {COMPAT} path")
    pending = [s.version for s in migration_status(ex, source, migrations) if s.state != "applied"]
    if pending:
        raise MigrationError(f"{source}: run `citystream db migrate` first (pending {pending})")


def _check_target(ex: Executor, target: str) -> None:
    rows = ex.query(f"SELECT count() AS n FROM system.tables WHERE database = '{target}'")
    if int(rows[0]["n"]):
        raise MigrationError(f"{target} already has tables: the move needs a new database")


def move_to_modern(
    ex: Executor,
    source: str,
    target: str,
    tz: str,
    retention: Retention | None,
    migrations: list[Migration] | None = None,
) -> MoveResult:
    """Build ``target`` on the modern path and copy every stored table of ``source``."""
    check_identifier(source)
    check_identifier(target)
    migrations = load_migrations() if migrations is None else migrations
    _check_source(ex, source, migrations)
    _check_target(ex, target)
    migrate(ex, target, tz, migrations, path=MODERN, retention=retention)
    copied: dict[str, int] = {}
    for table, columns in TABLES.items():
        if table in _ROLLUP_TABLES:
            continue
        names = ", ".join(c.name for c in columns)
        # seeded reference rows (the patrol rules) are in both: the copy's twin collapses
        ex.execute(f"INSERT INTO {target}.{table} ({names}) SELECT {names} FROM {source}.{table}")
        copied[table] = _count(ex, source, table)
    return MoveResult(source, target, copied)
