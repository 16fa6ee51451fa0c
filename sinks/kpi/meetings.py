"""The district's meetings and the periods their reports cover (docs/bi/reports.md).

A meeting reads one period of the KPI views: the weekly dispatch meeting (周调度) a week
Monday..Sunday, the half-monthly one the 1st-15th or the 16th-end of a month, the monthly
one (月碰头) a calendar month, all in the district's local time. Each meeting has the
sections that serve its purpose; :mod:`sinks.kpi.sections` builds them.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sinks.reference import half_month_start

__all__ = ["MEETINGS", "SECTIONS", "Meeting", "Period", "period_of"]

# (key, Chinese title, English title), in the order a report shows them
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("league", "部门综合排名", "department league table"),
    ("trend", "案件趋势", "trend"),
    ("streets", "街道与社区", "streets and communities"),
    ("intake", "受理渠道", "intake per channel"),
    ("overdue", "超期与督办案件", "overdue and escalated cases"),
    ("chronic", "顽疾问题", "recurring problems"),
    ("hotspots", "热点地图", "hotspot map"),
    ("patrol", "铁脚板巡查", "foot patrols"),
    ("campaign", "专项行动", "campaign"),
    ("surge", "突发高峰恢复", "surge recovery"),
)


@dataclass(frozen=True)
class Meeting:
    name: str  # the --meeting value
    title_zh: str
    title_en: str
    view_period: str  # the `period` of the KPI views this meeting reads
    sections: tuple[str, ...]  # keys of SECTIONS; surge only appears after a surge
    trend_days: int  # days of the daily trend, ending with the period's last day
    # the overdue list shows cases escalated at least to this level ('' every overdue case)
    overdue_from_level: str = ""
    # how many of the overdue list's cases the report names (the most escalated and latest
    # first); every department's count is shown whole
    overdue_rows: int = 100

    def period(self, start: date) -> Period:
        return Period(self, start, _period_end(self.view_period, start))


@dataclass(frozen=True)
class Period:
    meeting: Meeting
    start: date
    end: date  # the last day, inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds_s(self, tz: str) -> tuple[int, int]:
        """Epoch seconds of the local midnights that open and close the period."""
        zone = ZoneInfo(tz)
        first = datetime.combine(self.start, time(), zone)
        after = datetime.combine(self.end + timedelta(days=1), time(), zone)
        return int(first.timestamp()), int(after.timestamp())

    @property
    def trend_start(self) -> date:
        return self.end - timedelta(days=self.meeting.trend_days - 1)

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


_ALL = ("league", "trend", "streets", "intake", "overdue", "chronic", "hotspots", "surge")
MEETINGS: dict[str, Meeting] = {
    "weekly": Meeting(
        "weekly", "周调度会", "weekly dispatch meeting", "week",
        (*_ALL[:-1], "patrol", "surge"), 28,
    ),
    "half-monthly": Meeting(
        "half-monthly", "半月调度会", "half-monthly meeting", "half_month", _ALL, 45,
    ),
    "monthly": Meeting(
        "monthly", "月碰头会", "monthly meeting", "month",
        ("league", "trend", "streets", "chronic", "hotspots", "overdue", "patrol", "campaign",
         "surge"), 92, "department_head",
    ),
}  # fmt: skip


def _period_start(view_period: str, day: date) -> date:
    if view_period == "week":
        return day - timedelta(days=day.weekday())
    if view_period == "half_month":
        return half_month_start(day)
    if view_period == "month":
        return day.replace(day=1)
    raise ValueError(f"no meeting reads period {view_period!r}")


def _period_end(view_period: str, start: date) -> date:
    if view_period == "week":
        return start + timedelta(days=6)
    last = calendar.monthrange(start.year, start.month)[1]
    if view_period == "half_month" and start.day == 1:
        return start.replace(day=15)
    return start.replace(day=last)


def period_of(meeting: Meeting, day: date) -> Period:
    """The meeting's period holding ``day``."""
    return meeting.period(_period_start(meeting.view_period, day))
