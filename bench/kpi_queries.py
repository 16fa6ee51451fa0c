"""The KPI bench's queries (paths ``kpi-<name>``, named in :mod:`bench.kpi_paths`): each a
function of (executor, database, time zone), so the same query runs on the ClickHouse
server (clickhouse-driver) and in chdb, over the rolled-up store and over the raw one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from bench.kpi_paths import REPORT_SECTIONS, WEEK
from sinks.kpi import queries
from sinks.kpi.meetings import MEETINGS, period_of
from sinks.kpi.queries import BI_VIEWS
from sinks.kpi.sections import section_data
from sinks.sql import Executor

__all__ = ["EMPTY_ANSWERS", "KPI_QUERIES", "answered"]

Query = Callable[[Executor, str, str], Any]


def _view(name: str) -> Query:
    """What a dashboard tile reads from a BI view: the weekly rows (a view without periods:
    all of it; the per-report lateness: its channel summary; the intake per minute: a day
    of it, the live intake chart, not 90 days of minutes)."""
    if name == "intake_minute":
        return lambda ex, db, tz: ex.query(
            f"SELECT * FROM {db}.intake_minute WHERE minute >= toDateTime('{WEEK} 00:00:00', "
            f"'{tz}') AND minute < toDateTime('{WEEK} 00:00:00', '{tz}') + 86400 ORDER BY minute"
        )
    if name == "report_lateness":
        return lambda ex, db, tz: ex.query(
            f"SELECT channel, count() AS reports, avg(delay_min) AS delay_min, sum(late) AS late "
            f"FROM {db}.report_lateness GROUP BY channel"
        )
    if name in UNPERIODED_VIEWS:
        return lambda ex, db, tz: ex.query(f"SELECT * FROM {db}.{name}")
    return lambda ex, db, tz: ex.query(f"SELECT * FROM {db}.{name} WHERE period = 'week'")


UNPERIODED_VIEWS = (
    "kpi_patrol_coverage",
    "kpi_patrol_grids",
    "kpi_streets_not_walked",
    "deadletter_daily",
    "kpi_campaigns",  # one row per campaign: its dates are columns of their own
    "kpi_campaign_recurrence",
)


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _section(meeting: str, day: str, key: str) -> Query:
    """One section of the meeting's report for the period holding ``day``, judged at the
    period's end (as a report written after it)."""
    period = period_of(MEETINGS[meeting], _day(day))
    return lambda ex, db, tz: section_data(ex, db, tz, period, key, period.bounds_s(tz)[1])


# bench.kpi_paths.KPI_NAMES, each with the query it names
KPI_QUERIES: dict[str, Query] = {
    "league-table": lambda ex, db, tz: queries.league_table(ex, db, tz, "week", _day(WEEK)),
    "trend-90-days": lambda ex, db, tz: queries.trend(
        ex, db, tz, _day("2023-07-01"), _day("2023-09-30")
    ),
    "hotspots-90-days": lambda ex, db, tz: queries.hotspots(
        ex, db, tz, _day("2023-07-01"), _day("2023-09-30")
    ),
    "patrol-week": lambda ex, db, tz: queries.patrol_section(ex, db, tz, "week", _day(WEEK)),
    "intake-weeks": lambda ex, db, tz: ex.query(
        f"SELECT * FROM {db}.kpi_intake WHERE period = 'week'"
    ),
    "durations-months": lambda ex, db, tz: ex.query(
        f"SELECT * FROM {db}.kpi_durations WHERE period = 'month'"
    ),
    **{
        f"report-{meeting}-{key}": _section(meeting, day, key)
        for (meeting, day), keys in REPORT_SECTIONS.items()
        for key in keys
    },
    **{f"view-{name}": _view(name) for name in BI_VIEWS},
}
# the synthetic store has no dead letters and no case stages (returns, callbacks)
EMPTY_ANSWERS = {"view-deadletter_daily", "view-kpi_returns", "view-kpi_satisfaction"}


def answered(result: Any) -> bool:
    """Whether a query's result holds any row (a section: any of its parts)."""
    return any(result.values()) if isinstance(result, dict) else bool(result)
