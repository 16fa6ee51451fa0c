"""``citystream report --meeting weekly|half-monthly|monthly``: a meeting's report.

Writes one self-contained HTML file (docs/bi/reports.md) for the meeting's period that
holds ``--period`` (any date in it), by default the latest period with data: the period
of the newest case, so a store filled by a replay or the demo reports its own data and not
the calendar week before today.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from sinks.clickhouse import run_command
from sinks.kpi.meeting_html import meeting_html
from sinks.kpi.meetings import MEETINGS, Period, period_of
from sinks.kpi.sections import latest_case_day, report_data
from sinks.sql import Executor, SqlError
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from streams.settings import Settings

__all__ = ["add_arguments", "parse_date", "resolve_period", "run", "write_report"]


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--meeting",
        required=True,
        choices=sorted(MEETINGS),
        help="which meeting's report: its period and sections",
    )
    parser.add_argument(
        "--period",
        type=parse_date,
        default=None,
        help="any date in the period to report (default: the latest period with data)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--database", default=None, help="default: CITYSTREAM_CLICKHOUSE_DATABASE")


def resolve_period(ex: Executor, database: str, tz: str, meeting: str, day: date | None) -> Period:
    """The meeting's period holding ``day``, or the newest case's when ``day`` is None."""
    return period_of(MEETINGS[meeting], day or latest_case_day(ex, database, tz))


def write_report(
    ex: Executor, settings: Settings, database: str, period: Period, out: Path
) -> Path:
    """Query the period's figures and write the meeting's HTML report to ``out``."""
    tz = settings.calendar.timezone
    data = report_data(ex, database, tz, period, int(time.time()))
    network = StreetNetwork.for_district(District.load(settings.pipeline.district))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(meeting_html(data, network, tz), encoding="utf-8")
    return out


def run(settings: Settings, args: argparse.Namespace) -> int:
    database = args.database or settings.clickhouse.database
    tz = settings.calendar.timezone

    def body(ex: Executor) -> int:
        period = resolve_period(ex, database, tz, args.meeting, args.period)
        path = write_report(ex, settings, database, period, args.out)
        print(f"{args.meeting} report for {period.label} written to {path}")
        return 0

    return run_command(settings, "report", database, body, (SqlError,))
