"""``citystream kpi``: print the weekly dispatch-meeting table; ``--out`` writes the
weekly meeting's report (the same page as ``citystream report --meeting weekly``).

``--week`` picks the week (any date in it); by default the week of the newest case, so
after a replay or the demo the table shows that data rather than an empty calendar week.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sinks.clickhouse import run_command
from sinks.kpi import queries
from sinks.kpi.report import league_text
from sinks.sql import Executor, SqlError
from streams.cli.output import add_json_flag, emit_json, say
from streams.cli.report import parse_date, resolve_period, write_report
from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--week",
        default=None,
        help="a date in the week to report (YYYY-MM-DD; default: the newest case's week)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the weekly report here")
    parser.add_argument("--database", default=None, help="default: CITYSTREAM_CLICKHOUSE_DATABASE")
    add_json_flag(parser)


def run(settings: Settings, args: argparse.Namespace) -> int:
    database = args.database or settings.clickhouse.database
    tz = settings.calendar.timezone

    def body(ex: Executor) -> int:
        day = None if args.week in (None, "latest") else parse_date(args.week)
        period = resolve_period(ex, database, tz, "weekly", day)
        league = queries.league_table(ex, database, tz, "week", period.start)
        if args.json:
            emit_json({"week": period.start, "to": period.end, "departments": league})
        else:
            print(league_text(league, period.start))
        if args.out is not None:
            say(
                "kpi", f"report written to {write_report(ex, settings, database, period, args.out)}"
            )
        return 0

    return run_command(settings, "kpi", database, body, (SqlError, argparse.ArgumentTypeError))
