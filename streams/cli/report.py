"""``citystream report --meeting weekly|half-monthly|monthly``: a meeting's report.

Writes one self-contained HTML file (docs/bi/reports.md) for the meeting's period that
holds ``--period`` (any date in it), by default the latest period with data: the period
of the newest case, so a store filled by a replay or the demo reports its own data and not
the calendar week before today.
"""

from __future__ import annotations

import argparse
import csv
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sinks.clickhouse import run_command
from sinks.kpi.meeting_html import meeting_html
from sinks.kpi.meetings import MEETINGS, Period, period_of
from sinks.kpi.sections import judged_at, latest_case_day, overdue_cases, report_data
from sinks.sql import Executor, SqlError
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from streams.settings import Settings

__all__ = [
    "add_arguments",
    "parse_date",
    "resolve_period",
    "run",
    "write_overdue_csv",
    "write_report",
]

# the whole list: overdue.sql's arrays are cut at this many cases per department
WHOLE_LIST = 2**31 - 1
OVERDUE_CSV_COLUMNS = (
    "case_id", "department", "category_key", "street", "grid_code", "deadline", "late_h",
    "state", "top_level",
)  # fmt: skip


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
    parser.add_argument(
        "--overdue-csv",
        type=Path,
        default=None,
        help="also write the whole overdue and escalated list (the report names its first "
        "cases) as CSV, for the departments to work through",
    )


def resolve_period(ex: Executor, database: str, tz: str, meeting: str, day: date | None) -> Period:
    """The meeting's period holding ``day``, or the newest case's when ``day`` is None."""
    return period_of(MEETINGS[meeting], day or latest_case_day(ex, database, tz))


def write_report(
    ex: Executor,
    settings: Settings,
    database: str,
    period: Period,
    out: Path,
    now_s: int | None = None,
) -> Path:
    """Query the period's figures and write the meeting's HTML report to ``out`` (a period
    still running is judged at ``now_s``, by default now)."""
    tz = settings.calendar.timezone
    data = report_data(ex, database, tz, period, int(time.time()) if now_s is None else now_s)
    network = StreetNetwork.for_district(District.load(settings.pipeline.district))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(meeting_html(data, network, tz), encoding="utf-8")
    return out


def write_overdue_csv(
    ex: Executor, settings: Settings, database: str, period: Period, out: Path, now_s: int
) -> int:
    """The period's whole overdue and escalated list, in the report's order, as CSV
    (UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese names); the
    deadline in local time. Returns the cases written."""
    tz = settings.calendar.timezone
    cases, _ = overdue_cases(ex, database, tz, period, judged_at(tz, period, now_s), WHOLE_LIST)
    zone = ZoneInfo(tz)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(OVERDUE_CSV_COLUMNS)
        for case in cases:
            deadline = datetime.fromtimestamp(int(case["deadline_s"]), UTC).astimezone(zone)
            state = "handled" if case["is_handled"] else "unhandled"
            writer.writerow(
                [case["case_id"], case["department"], case["category_key"], case["street"],
                 case["grid_code"], deadline.isoformat(timespec="minutes"),
                 f"{float(case['late_h']):.2f}", state, case["top_level"]]
            )  # fmt: skip
    return len(cases)


def run(settings: Settings, args: argparse.Namespace) -> int:
    database = args.database or settings.clickhouse.database
    tz = settings.calendar.timezone

    def body(ex: Executor) -> int:
        period = resolve_period(ex, database, tz, args.meeting, args.period)
        now_s = int(time.time())  # the report and its list judged at the same time
        path = write_report(ex, settings, database, period, args.out, now_s)
        print(f"{args.meeting} report for {period.label} written to {path}")
        if args.overdue_csv is not None:
            n = write_overdue_csv(ex, settings, database, period, args.overdue_csv, now_s)
            print(f"{n} overdue and escalated cases written to {args.overdue_csv}")
        return 0

    return run_command(settings, "report", database, body, (SqlError,))
