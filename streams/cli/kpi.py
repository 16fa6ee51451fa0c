"""``citystream kpi``: print the weekly dispatch-meeting table, optionally write the report.

``--week`` picks the week (any date in it, or ``latest`` for the week of the newest case;
default: the last full week before today). ``--from``/``--to`` bound the trend and hotspot
map (default: the eight weeks ending with that week). ``--out report.html`` writes the
self-contained HTML report.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sinks.clickhouse import run_command
from sinks.kpi import queries
from sinks.kpi.report import html_report, league_text
from sinks.sql import DriverExecutor, Executor, SqlError
from streams.cli.output import add_json_flag, emit_json, say
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from streams.settings import Settings

__all__ = ["add_arguments", "resolve_range", "run"]


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--week",
        default=None,
        help="a date in the week to report (YYYY-MM-DD) or 'latest' "
        "(default: the last full week before today)",
    )
    parser.add_argument("--from", dest="start", type=_date, default=None, help="trend start")
    parser.add_argument("--to", dest="end", type=_date, default=None, help="trend end")
    parser.add_argument("--out", type=Path, default=None, help="write the HTML report here")
    parser.add_argument("--database", default=None, help="default: CITYSTREAM_CLICKHOUSE_DATABASE")
    add_json_flag(parser)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _latest_case_day(ex: Executor, database: str, tz: str) -> date:
    rows = ex.query(
        f"SELECT toDate(max(opened_at), '{tz}') AS day, count() AS n FROM {database}.cases"
    )
    if not rows or not int(rows[0]["n"]):
        raise SqlError(f"--week latest: {database}.cases is empty")
    day: date = rows[0]["day"]
    return day


def resolve_range(
    week_arg: str | None, start: date | None, end: date | None, today: date, latest: date | None
) -> tuple[date, date, date]:
    """(week Monday, trend start, trend end) from the command-line values."""
    if week_arg is None:
        week = _monday(today) - timedelta(days=7)
    elif week_arg == "latest":
        if latest is None:
            raise SqlError("--week latest needs the newest case day")
        week = _monday(latest)
    else:
        week = _monday(_date(week_arg))
    end = end or week + timedelta(days=6)
    start = start or end - timedelta(days=8 * 7 - 1)
    if start > end:
        raise SqlError(f"--from {start} is after --to {end}")
    return week, start, end


def run(settings: Settings, args: argparse.Namespace) -> int:
    database = args.database or settings.clickhouse.database
    tz = settings.calendar.timezone

    def body(ex: DriverExecutor) -> int:
        latest = _latest_case_day(ex, database, tz) if args.week == "latest" else None
        today = datetime.now(ZoneInfo(tz)).date()
        week, start, end = resolve_range(args.week, args.start, args.end, today, latest)
        league = queries.league_table(ex, database, tz, week)
        if args.json:
            emit_json({"week": week, "from": start, "to": end, "departments": league})
        else:
            print(league_text(league, week))
        if args.out is not None:
            page = html_report(
                week=week,
                start=start,
                end=end,
                league=league,
                trend=queries.trend(ex, database, tz, start, end),
                hotspots=queries.hotspots(ex, database, tz, start, end),
                patrols=queries.patrol_week(ex, database, tz, week),
                streets=StreetNetwork.for_district(District.load(settings.pipeline.district)),
            )
            args.out.write_text(page, encoding="utf-8")
            say("kpi", f"report written to {args.out}")
        return 0

    return run_command(settings, "kpi", database, body, (SqlError, argparse.ArgumentTypeError))
