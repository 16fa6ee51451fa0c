"""Versioned schema migrations: ``sinks/migrations/NNNN_name.sql``.

Each file is applied once, in version order; ``{db}.schema_migrations`` records the version,
name and the SHA-256 of the file's template text (before ``{db}``/``{tz}`` are filled in,
so the checksum does not depend on the target). Re-running is a no-op. A recorded checksum
that no longer matches the file is an error: applied migrations are never edited, a change
goes into a new file. Statements use ``IF NOT EXISTS``, so a run that failed half-way can
simply be repeated; ClickHouse 18.16 has no ``ADD COLUMN IF NOT EXISTS``, so an
``ALTER TABLE {db}.t ADD COLUMN c ...`` statement is skipped when ``system.columns``
already lists the column (the same guarantee, checked here).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sinks.sql import Executor, check_identifier, render, split_statements

__all__ = [
    "MIGRATIONS_DIR",
    "Migration",
    "MigrationError",
    "MigrationStatus",
    "load_migrations",
    "migrate",
    "migration_status",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_ADD_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)\.(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.I)


class MigrationError(RuntimeError):
    """Migrations are inconsistent (bad file names, duplicates, checksum drift)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    template: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.template.encode("utf-8")).hexdigest()

    def statements(self, database: str, tz: str) -> list[str]:
        return split_statements(render(self.template, database=database, tz=tz))


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    state: str  # "applied", "pending" or "drifted"
    applied_at: datetime | None


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migration files of ``directory`` in version order."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration versions must be 1..n without gaps, got {versions}")
    return [found[v] for v in versions]


def _ensure_bookkeeping(executor: Executor, database: str) -> None:
    executor.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    executor.execute(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations ("
        "version UInt32, name String, checksum String, applied_at DateTime"
        ") ENGINE = ReplacingMergeTree() ORDER BY version"
    )


def _applied(executor: Executor, database: str) -> dict[int, tuple[str, datetime]]:
    rows = executor.query(
        f"SELECT version, checksum, applied_at FROM {database}.schema_migrations FINAL"
    )
    return {int(r["version"]): (str(r["checksum"]), r["applied_at"]) for r in rows}


def _check_drift(migrations: list[Migration], applied: dict[int, tuple[str, datetime]]) -> None:
    by_version = {m.version: m for m in migrations}
    for version, (checksum, _) in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version}, which this code does not know "
                "(is the code older than the schema?)"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{migration.name}.sql was edited after it was "
                f"applied (checksum {checksum[:12]} in the database, "
                f"{migration.checksum[:12]} in the file): put changes in a new migration"
            )


def migrate(
    executor: Executor,
    database: str,
    tz: str,
    migrations: list[Migration] | None = None,
) -> list[Migration]:
    """Apply the pending migrations; returns those applied (empty: nothing to do)."""
    check_identifier(database)
    migrations = load_migrations() if migrations is None else migrations
    _ensure_bookkeeping(executor, database)
    applied = _applied(executor, database)
    _check_drift(migrations, applied)
    done: list[Migration] = []
    for migration in migrations:
        if migration.version in applied:
            continue
        for statement in migration.statements(database, tz):
            if _column_exists(executor, statement):
                continue
            try:
                executor.execute(statement)
            except Exception as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name}.sql failed: {exc}\n"
                    f"statement: {statement[:400]}"
                ) from exc
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        executor.execute(
            f"INSERT INTO {database}.schema_migrations (version, name, checksum, applied_at) "
            f"SELECT {migration.version}, '{migration.name}', '{migration.checksum}', "
            f"toDateTime('{now}', 'UTC')"
        )
        done.append(migration)
    return done


def _column_exists(executor: Executor, statement: str) -> bool:
    """``statement`` adds a column that a half-finished earlier run already added."""
    match = _ADD_COLUMN.match(statement)
    if match is None:
        return False
    database, table, column = match.groups()
    rows = executor.query(
        "SELECT count() AS n FROM system.columns "
        f"WHERE database = '{database}' AND table = '{table}' AND name = '{column}'"
    )
    return int(rows[0]["n"]) > 0


def migration_status(
    executor: Executor, database: str, migrations: list[Migration] | None = None
) -> list[MigrationStatus]:
    """The state of every known migration in ``database`` (which may not exist yet)."""
    check_identifier(database)
    migrations = load_migrations() if migrations is None else migrations
    exists = executor.query(
        "SELECT count() AS n FROM system.tables "
        f"WHERE database = '{database}' AND name = 'schema_migrations'"
    )
    applied = _applied(executor, database) if int(exists[0]["n"]) else {}
    statuses = []
    for m in migrations:
        if m.version not in applied:
            statuses.append(MigrationStatus(m.version, m.name, "pending", None))
            continue
        checksum, applied_at = applied[m.version]
        state = "applied" if checksum == m.checksum else "drifted"
        statuses.append(MigrationStatus(m.version, m.name, state, applied_at))
    return statuses
