"""The figures of a meeting report, section by section, each from its SQL file.

:func:`report_data` runs the queries of the sections the meeting has (``Meeting.sections``)
and returns their rows as the views give them; :mod:`sinks.kpi.meeting_html` draws them.
No figure is computed here: the formulas live in the views and ``sinks/kpi/*.sql``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sinks.kpi import queries
from sinks.kpi.meetings import Period
from sinks.sql import Executor, SqlError
from streams.cases.escalation import Level

__all__ = [
    "ESCALATION_LEVELS",
    "ReportData",
    "campaign_section",
    "judged_at",
    "latest_case_day",
    "overdue_cases",
    "report_data",
    "section_data",
]

Rows = list[dict[str, Any]]
ESCALATION_LEVELS: tuple[str, ...] = tuple(level.value for level in Level)  # lowest first


@dataclass
class ReportData:
    """The rows of each section of one meeting's report."""

    period: Period
    asof_s: int  # overdue and unhandled are judged at this time (epoch s)
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def surge_happened(self) -> bool:
        surge = self.sections.get("surge")
        return bool(surge and surge["surge_hours"])


def latest_case_day(ex: Executor, database: str, tz: str) -> date:
    """The local day of the newest case opened: the default report period holds it."""
    rows = ex.query(
        f"SELECT toDate(max(opened_at), '{tz}') AS day, count() AS n FROM {database}.cases"
    )
    if not rows or not int(rows[0]["n"]):
        raise SqlError(f"{database}.cases is empty: no period has data to report")
    day: date = rows[0]["day"]
    return day


def campaign_section(ex: Executor, database: str, tz: str, period: Period) -> Rows:
    """The campaign section (专项行动): the campaigns running in ``period``, each a row of
    ``kpi_campaigns`` (its after-shares ``after_share_30`` ... are columns of it: the
    section does not read ``kpi_campaign_recurrence`` too)."""
    window = {"from": period.start, "to": period.end}
    return ex.query(queries.load_query("campaigns", database=database, tz=tz, **window))


def _query(ex: Executor, database: str, tz: str, name: str, **values: object) -> Rows:
    return ex.query(queries.load_query(name, database=database, tz=tz, **values))


def overdue_cases(
    ex: Executor, database: str, tz: str, period: Period, asof_s: int, rows: int
) -> tuple[Rows, Rows]:
    """The first ``rows`` of ``period``'s overdue and escalated cases as its meeting lists
    them (from its ``overdue_from_level``), judged at ``asof_s``, and per department how
    many the whole list has (``sinks.kpi.queries.overdue_list``)."""
    least = period.meeting.overdue_from_level
    min_rank = ESCALATION_LEVELS.index(least) + 1 if least else 0
    from_s, to_s = period.bounds_s(tz)
    return queries.overdue_list(
        ex, database, tz, levels=ESCALATION_LEVELS, rows=rows,
        from_s=from_s, to_s=to_s, asof_s=asof_s, min_rank=min_rank,
    )  # fmt: skip


def _section_queries(
    ex: Executor, database: str, tz: str, period: Period, asof_s: int
) -> dict[str, Callable[[], Any]]:
    view = {"period": period.meeting.view_period, "start": period.start}
    from_s, to_s = period.bounds_s(tz)
    window = {"from_s": from_s, "to_s": to_s}

    def q(name: str, **values: object) -> Callable[[], Rows]:
        return lambda: _query(ex, database, tz, name, **values)

    def overdue() -> dict[str, Rows]:
        rows = period.meeting.overdue_rows
        cases, departments = overdue_cases(ex, database, tz, period, asof_s, rows)
        return {
            "cases": cases,
            "departments": departments,
            "counts": _query(ex, database, tz, "escalation_counts", **view),
        }

    return {
        "league": q("league", **view),
        "trend": lambda: queries.trend(ex, database, tz, period.trend_start, period.end),
        "streets": q("units", **view),
        "intake": lambda: {
            "channels": _query(ex, database, tz, "intake", **view),
            "dead_letters": _query(
                ex, database, tz, "dead_letters", start=period.start, end=period.end
            ),
        },
        "overdue": overdue,
        "chronic": lambda: {
            "places": _query(ex, database, tz, "chronic", **window),
            "rates": _query(ex, database, tz, "recurrence_rates", **view),
        },
        "hotspots": q("period_hotspots", **view),
        "patrol": lambda: queries.patrol_section(
            ex, database, tz, period.meeting.view_period, period.start
        ),
        "campaign": lambda: campaign_section(ex, database, tz, period),
        "surge": lambda: _query(ex, database, tz, "surge", **window)[0],
    }


def judged_at(tz: str, period: Period, now_s: int) -> int:
    """When a report on ``period`` judges overdue and unhandled: its end, or ``now_s`` while
    it is still running."""
    return min(now_s, period.bounds_s(tz)[1])


def report_data(ex: Executor, database: str, tz: str, period: Period, now_s: int) -> ReportData:
    """The figures of every section of ``period.meeting``'s report. Overdue cases are
    judged at the period's end, or at ``now_s`` while the period is still running."""
    asof_s = judged_at(tz, period, now_s)
    runs = _section_queries(ex, database, tz, period, asof_s)
    data = ReportData(period, asof_s)
    for key in period.meeting.sections:
        data.sections[key] = runs[key]()
    return data


def section_data(ex: Executor, database: str, tz: str, period: Period, key: str, now_s: int) -> Any:
    """The figures of one section (a key of ``SECTIONS``), as :func:`report_data` reads
    them: what the KPI bench times, query by query."""
    return _section_queries(ex, database, tz, period, judged_at(tz, period, now_s))[key]()
