"""``citystream db migrate|status``: the ClickHouse schema of citystream."""

from __future__ import annotations

import argparse

from sinks.clickhouse import run_command
from sinks.migrate import MigrationError, MigrationStatus, migrate, migration_status
from sinks.sql import DriverExecutor, SqlError
from streams.cli.output import add_json_flag, emit_json
from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("migrate", "status"), help="what to do")
    parser.add_argument(
        "--database",
        default=None,
        help="target database (default: CITYSTREAM_CLICKHOUSE_DATABASE)",
    )
    add_json_flag(parser)


def _print_status(database: str, statuses: list[MigrationStatus], as_json: bool) -> None:
    if as_json:
        rows = [
            {"version": s.version, "name": s.name, "state": s.state, "applied_at": s.applied_at}
            for s in statuses
        ]
        emit_json({"database": database, "migrations": rows})
        return
    for s in statuses:
        when = "" if s.applied_at is None else f"  {s.applied_at:%Y-%m-%d %H:%M:%S} UTC"
        print(f"{s.version:04d}_{s.name:<24} {s.state}{when}")


def run(settings: Settings, args: argparse.Namespace) -> int:
    database = args.database or settings.clickhouse.database

    def body(executor: DriverExecutor) -> int:
        if args.action == "migrate":
            applied = migrate(executor, database, settings.calendar.timezone)
            if args.json:
                emit_json({"database": database, "applied": [m.version for m in applied]})
                return 0
            for m in applied:
                print(f"applied {m.version:04d}_{m.name}")
            print(f"{database}: {len(applied)} migration(s) applied, schema up to date")
            return 0
        statuses = migration_status(executor, database)
        _print_status(database, statuses, args.json)
        return 0 if all(s.state == "applied" for s in statuses) else 1

    return run_command(settings, "db", database, body, (MigrationError, SqlError))
