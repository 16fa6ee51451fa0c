"""``citystream db migrate|status|rollup|move``: the ClickHouse schema of citystream (its
path, and moving a database to the modern one: docs/schema.md), and the refresh job of its
KPI rollups (docs/bi/rollups.md)."""

from __future__ import annotations

import argparse
import sys
import time

from sinks.clickhouse import run_command
from sinks.migrate import (
    COMPAT,
    MODERN_MIN_VERSION,
    MigrationError,
    MigrationStatus,
    migrate,
    migration_status,
    schema_path,
    server_version,
)
from sinks.retention import Retention
from sinks.rollups import FAMILIES, refresh
from sinks.schema_move import move_to_modern
from sinks.sql import DriverExecutor, SqlError
from streams.cli.output import add_json_flag, emit_json
from streams.settings import Settings

__all__ = ["add_arguments", "run"]

# a refresh of a month of a big store is one long INSERT ... SELECT with no packet back
ROLLUP_TIMEOUT_S = 1800


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", choices=("migrate", "status", "rollup", "move"), help="what to do"
    )
    parser.add_argument(
        "--database",
        default=None,
        help="target database (default: CITYSTREAM_CLICKHOUSE_DATABASE)",
    )
    parser.add_argument(
        "--every",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="rollup: refresh again every SECONDS until interrupted (default: once)",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="DATABASE",
        help="move: the new database to build on the modern path and copy into",
    )
    add_json_flag(parser)


def _path_note(executor: DriverExecutor, path: str | None) -> str:
    """Why a database is on the path it is, when that is not the best the server has."""
    server = server_version(executor)
    if path == COMPAT and server[:2] >= MODERN_MIN_VERSION:
        return (
            f"the server ({'.'.join(map(str, server))}) could run the modern path; "
            "this database stays on compat until moved (docs/schema.md)"
        )
    return ""


def _print_status(
    database: str, path: str | None, statuses: list[MigrationStatus], note: str, as_json: bool
) -> None:
    if as_json:
        rows = [
            {"version": s.version, "name": s.name, "state": s.state, "applied_at": s.applied_at}
            for s in statuses
        ]
        emit_json({"database": database, "path": path, "note": note, "migrations": rows})
        return
    print(f"{database}: schema path {path or 'none yet'}")
    if note:
        print(f"note: {note}", file=sys.stderr)
    for s in statuses:
        when = "" if s.applied_at is None else f"  {s.applied_at:%Y-%m-%d %H:%M:%S} UTC"
        print(f"{s.version:04d}_{s.name:<24} {s.state}{when}")


def _migrate(settings: Settings, executor: DriverExecutor, database: str, as_json: bool) -> int:
    applied = migrate(
        executor,
        database,
        settings.calendar.timezone,
        path=settings.clickhouse.schema,
        retention=Retention.of(settings.clickhouse),
    )
    path = schema_path(executor, database)
    note = _path_note(executor, path)
    if as_json:
        emit_json(
            {
                "database": database,
                "path": path,
                "note": note,
                "applied": [m.version for m in applied],
            }
        )
        return 0
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}")
    print(f"{database}: {len(applied)} migration(s) applied on the {path} path, schema up to date")
    if note:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _move(
    settings: Settings, executor: DriverExecutor, database: str, target: str | None, as_json: bool
) -> int:
    if not target:
        raise MigrationError("db move needs --target DATABASE (a new database)")
    result = move_to_modern(
        executor, database, target, settings.calendar.timezone, Retention.of(settings.clickhouse)
    )
    if as_json:
        emit_json({"source": database, "target": target, "rows": result.rows})
        return 0
    for table, n in result.rows.items():
        print(f"{table:<24} {n} row(s) copied")
    print(
        f"{database} -> {target}: moved to the modern path; point "
        "CITYSTREAM_CLICKHOUSE_DATABASE at it and run `citystream db rollup` (docs/schema.md)"
    )
    return 0


def _rollups(executor: DriverExecutor, database: str, every_s: float) -> int:
    while True:
        for family in FAMILIES:
            started = time.monotonic()
            result = refresh(executor, database, family)
            months = ", ".join(map(str, result.months)) or "none stale"
            spent = time.monotonic() - started
            print(f"{database}: rollup {family}: refreshed {months} in {spent:.1f} s", flush=True)
        if every_s <= 0:
            return 0
        time.sleep(every_s)


def run(settings: Settings, args: argparse.Namespace) -> int:
    database = args.database or settings.clickhouse.database

    def body(executor: DriverExecutor) -> int:
        if args.action == "rollup":
            return _rollups(executor, database, args.every)
        if args.action == "migrate":
            return _migrate(settings, executor, database, args.json)
        if args.action == "move":
            return _move(settings, executor, database, args.target, args.json)
        statuses = migration_status(executor, database)
        path = schema_path(executor, database)
        _print_status(database, path, statuses, _path_note(executor, path), args.json)
        return 0 if all(s.state == "applied" for s in statuses) else 1

    if args.every < 0:
        raise SystemExit("citystream db: --every must be >= 0")
    timeout_s = ROLLUP_TIMEOUT_S if args.action in ("rollup", "move") else 60
    return run_command(settings, "db", database, body, (MigrationError, SqlError), timeout_s)
