"""Versioned schema migrations: ``sinks/migrations/NNNN_name.sql``.

Each file is applied once, in version order; ``{db}.schema_migrations`` records the version,
name and the SHA-256 of the file's template text (before ``{db}``/``{tz}`` are filled in,
so the checksum does not depend on the target). Re-running is a no-op. A recorded checksum
that no longer matches the file is an error: applied migrations are never edited, a change
goes into a new file. Statements use ``IF NOT EXISTS``, so a run that failed half-way can
simply be repeated; ClickHouse 18.16 has no ``ADD COLUMN IF NOT EXISTS``, so an
``ALTER TABLE {db}.t ADD COLUMN c ...`` statement is skipped when ``system.columns``
already lists the column (the same guarantee, checked here).

Two schema paths (docs/schema.md). ``compat`` is the subset ClickHouse 18.16 shares with
current releases: the migration files as they are. ``modern`` (a server at or above
:data:`MODERN_MIN_VERSION`) stores the same tables and columns with LowCardinality, codecs,
time-led sort keys, time partitions and TTLs: a migration with a file of the same name in
``migrations/modern/`` (an *overlay*) has the overlay's ``CREATE TABLE`` and
``ALTER TABLE ... ADD COLUMN`` statements take the place of the base file's statements for
the same table or column; every other statement, and every migration without an overlay,
runs as written on both paths. A database keeps the path it was created with
(``schema_migrations.path``); :func:`choose_path` says what happens otherwise.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

from sinks.overlay import OverlayError, apply_overlay, check_overlay
from sinks.retention import Retention, apply_retention
from sinks.sql import Executor, check_identifier, render, split_statements
from streams.settings import SchemaPath

__all__ = [
    "COMPAT",
    "MIGRATIONS_DIR",
    "MODERN",
    "MODERN_MIN_VERSION",
    "PATHS",
    "Migration",
    "MigrationError",
    "MigrationStatus",
    "choose_path",
    "load_migrations",
    "migrate",
    "migration_status",
    "schema_path",
    "server_version",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# the paths are the settings' CITYSTREAM_CLICKHOUSE_SCHEMA values but "auto"
PATHS: tuple[str, ...] = tuple(p for p in get_args(SchemaPath) if p != "auto")
COMPAT, MODERN = PATHS
# the oldest release with everything the overlays use (LowCardinality without settings,
# codecs, column TTLs, MODIFY TTL): an LTS release; chdb and the compose image are newer
MODERN_MIN_VERSION = (22, 3)
_OVERLAY_DIR = MODERN
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_ADD_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)\.(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.I)


class MigrationError(RuntimeError):
    """Migrations are inconsistent (bad file names, duplicates, checksum drift)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    template: str
    modern: str | None = None  # the overlay of the modern path (None: none)

    @property
    def checksum(self) -> str:
        """The checksum of the compat path (and of the modern one without an overlay)."""
        return hashlib.sha256(self.template.encode("utf-8")).hexdigest()

    def checksum_for(self, path: str) -> str:
        if path == COMPAT or self.modern is None:
            return self.checksum
        text = self.template + "\n-- modern overlay --\n" + self.modern
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def statements(self, database: str, tz: str, path: str = COMPAT) -> list[str]:
        base = split_statements(render(self.template, database=database, tz=tz))
        if path == COMPAT or self.modern is None:
            return base
        overlay = split_statements(render(self.modern, database=database, tz=tz))
        return apply_overlay(base, overlay, f"{self.version:04d}_{self.name}")


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    state: str  # "applied", "pending" or "drifted"
    applied_at: datetime | None


def _overlays(directory: Path, names: dict[str, int]) -> dict[int, str]:
    """The modern overlays of ``directory``, by version; each must match a base file."""
    found: dict[int, str] = {}
    for path in sorted((directory / _OVERLAY_DIR).glob("*.sql")):
        if path.name not in names:
            raise MigrationError(f"{_OVERLAY_DIR}/{path.name}: no migration of that name")
        found[names[path.name]] = path.read_text(encoding="utf-8")
    return found


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migration files of ``directory`` in version order, with their overlays."""
    found: dict[int, tuple[str, str]] = {}
    names: dict[str, int] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        found[version] = (match.group(2), path.read_text(encoding="utf-8"))
        names[path.name] = version
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration versions must be 1..n without gaps, got {versions}")
    overlays = _overlays(directory, names)
    migrations = []
    for v in versions:
        name, template = found[v]
        migration = Migration(v, name, template, overlays.get(v))
        if migration.modern is not None:
            try:
                check_overlay(
                    split_statements(template),
                    split_statements(migration.modern),
                    f"{_OVERLAY_DIR}/{v:04d}_{name}.sql",
                )
            except OverlayError as exc:
                raise MigrationError(str(exc)) from exc
        migrations.append(migration)
    return migrations


def server_version(executor: Executor) -> tuple[int, ...]:
    """The server's release as numbers: ``18.16.1`` -> (18, 16, 1)."""
    text = str(executor.query("SELECT version() AS v")[0]["v"])
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        raise MigrationError(f"cannot read the server version {text!r}") from None


def _release(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def choose_path(server: tuple[int, ...], recorded: str | None, wanted: str = "auto") -> str:
    """The path to migrate a database on: the one it was built on, else the best the server
    has. ``wanted`` (CITYSTREAM_CLICKHOUSE_SCHEMA) is ``auto`` or a path, which must then
    agree with the database's. A database never changes path in place (docs/schema.md,
    "Moving a database"); a modern one on a server too old for it is refused."""
    if wanted not in ("auto", *PATHS):
        raise MigrationError(f"unknown schema path {wanted!r}; paths: auto, {', '.join(PATHS)}")
    able = server[:2] >= MODERN_MIN_VERSION
    path = recorded or (wanted if wanted != "auto" else (MODERN if able else COMPAT))
    if wanted not in ("auto", path):
        raise MigrationError(
            f"the database is on the {path} schema path, {wanted} was asked for: a database "
            "keeps its path; to move it, see docs/schema.md (Moving a database)"
        )
    if path == MODERN and not able:
        raise MigrationError(
            f"the {MODERN} schema path needs ClickHouse {_release(MODERN_MIN_VERSION)} or "
            f"later, the server is {_release(server)}"
            + (" (the database was built on a newer server)" if recorded else "")
        )
    return path


def _ensure_bookkeeping(executor: Executor, database: str) -> None:
    executor.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    executor.execute(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations ("
        "version UInt32, name String, checksum String, applied_at DateTime"
        ") ENGINE = ReplacingMergeTree() ORDER BY version"
    )
    # added, also to a new table, so that a database made before the paths existed reads
    # as what it is, compat
    statement = (
        f"ALTER TABLE {database}.schema_migrations ADD COLUMN path String DEFAULT '{COMPAT}'"
    )
    if not _column_exists(executor, statement):
        executor.execute(statement)
        executor.execute(
            f"ALTER TABLE {database}.schema_migrations COMMENT COLUMN path "
            "'schema path the migration ran on: compat or modern (docs/schema.md)'"
        )


def _has_bookkeeping(executor: Executor, database: str) -> bool:
    exists = executor.query(
        "SELECT count() AS n FROM system.tables "
        f"WHERE database = '{database}' AND name = 'schema_migrations'"
    )
    return int(exists[0]["n"]) > 0


def _applied(executor: Executor, database: str) -> dict[int, tuple[str, datetime]]:
    rows = executor.query(
        f"SELECT version, checksum, applied_at FROM {database}.schema_migrations FINAL"
    )
    return {int(r["version"]): (str(r["checksum"]), r["applied_at"]) for r in rows}


def schema_path(executor: Executor, database: str) -> str | None:
    """The path ``database`` was built on; None: no migration applied yet."""
    check_identifier(database)
    if not _has_bookkeeping(executor, database):
        return None
    columns = executor.query(
        "SELECT count() AS n FROM system.columns WHERE "
        f"database = '{database}' AND table = 'schema_migrations' AND name = 'path'"
    )
    if not int(columns[0]["n"]):
        applied = executor.query(f"SELECT count() AS n FROM {database}.schema_migrations")
        return COMPAT if int(applied[0]["n"]) else None
    rows = executor.query(
        f"SELECT DISTINCT if(path = '', '{COMPAT}', path) AS p "
        f"FROM {database}.schema_migrations FINAL"
    )
    paths = sorted(str(r["p"]) for r in rows)
    if len(paths) > 1 or (paths and paths[0] not in PATHS):
        raise MigrationError(f"{database}.schema_migrations records the paths {paths}")
    return paths[0] if paths else None


def _check_drift(
    migrations: list[Migration], applied: dict[int, tuple[str, datetime]], path: str
) -> None:
    by_version = {m.version: m for m in migrations}
    for version, (checksum, _) in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version}, which this code does not know "
                "(is the code older than the schema?)"
            )
        if migration.checksum_for(path) != checksum:
            raise MigrationError(
                f"migration {version:04d}_{migration.name}.sql (path {path}) was edited "
                f"after it was applied (checksum {checksum[:12]} in the database, "
                f"{migration.checksum_for(path)[:12]} in the files): put changes in a new "
                "migration"
            )


def migrate(
    executor: Executor,
    database: str,
    tz: str,
    migrations: list[Migration] | None = None,
    *,
    path: str = "auto",
    retention: Retention | None = None,
) -> list[Migration]:
    """Apply the pending migrations; returns those applied (empty: nothing to do).

    ``path``: ``auto`` (the database's, else the best the server has) or a path that
    must agree with the database's (:func:`choose_path`). ``retention``: on the modern
    path, set the TTLs to it (``citystream db migrate`` passes the settings'); None leaves
    them as they are (a new database then has none)."""
    check_identifier(database)
    migrations = load_migrations() if migrations is None else migrations
    chosen = choose_path(server_version(executor), schema_path(executor, database), path)
    _ensure_bookkeeping(executor, database)
    applied = _applied(executor, database)
    _check_drift(migrations, applied, chosen)
    done: list[Migration] = []
    for migration in migrations:
        if migration.version in applied:
            continue
        _apply(executor, database, tz, migration, chosen)
        done.append(migration)
    if chosen == MODERN and retention is not None:
        apply_retention(executor, database, retention)
    return done


def _apply(executor: Executor, database: str, tz: str, migration: Migration, path: str) -> None:
    try:
        statements = migration.statements(database, tz, path)
    except OverlayError as exc:
        raise MigrationError(str(exc)) from exc
    for statement in statements:
        if _column_exists(executor, statement):
            continue
        try:
            executor.execute(statement)
        except Exception as exc:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name}.sql ({path}) failed: "
                f"{exc}\nstatement: {statement[:400]}"
            ) from exc
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    executor.execute(
        f"INSERT INTO {database}.schema_migrations "
        "(version, name, checksum, applied_at, path) "
        f"SELECT {migration.version}, '{migration.name}', '{migration.checksum_for(path)}', "
        f"toDateTime('{now}', 'UTC'), '{path}'"
    )


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
    """The state of every known migration in ``database`` (which may not exist yet); a
    drifted one's files no longer match what the database's path ran."""
    check_identifier(database)
    migrations = load_migrations() if migrations is None else migrations
    path = schema_path(executor, database)
    applied = _applied(executor, database) if path is not None else {}
    statuses = []
    for m in migrations:
        if m.version not in applied or path is None:
            statuses.append(MigrationStatus(m.version, m.name, "pending", None))
            continue
        checksum, applied_at = applied[m.version]
        state = "applied" if checksum == m.checksum_for(path) else "drifted"
        statuses.append(MigrationStatus(m.version, m.name, state, applied_at))
    return statuses
