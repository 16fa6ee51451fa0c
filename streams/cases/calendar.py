"""Working-hours calendar: deadlines counted in working hours (工作时) and working days (工作日).

Everything crosses this module as epoch milliseconds (UTC); the wall clock is only used
inside, through :mod:`zoneinfo`, to find where the working periods of each local day lie.
A day's periods are turned into absolute ``[start_ms, end_ms)`` intervals once and cached,
so the hot paths (``add_work_ms``, ``work_ms_between``) are integer arithmetic per day.

Holiday tables cover the years whose dates they list (one file per year in streams/data).
A table whose rows all say ``basis=statutory`` is *provisional*: the public holidays the law
fixes (全国年节及纪念日放假办法), computed before the State Council's notice says how the
days are bridged (调休); the year counts as covered and start-up warns until the notice's
table replaces it. A year no table covers is not an ordinary year, since its public
holidays and 调休 days are unknown: :meth:`WorkCalendar.require_coverage` refuses to start
a service in one, and a lookup that meets one at run time (a replay of old data) is
counted per year for the ``citystream_calendar_uncovered_total`` metric and logged once
per year.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.reference.data import DATA_DIR

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "HOUR_MS",
    "NEXT_YEAR_LEAD_DAYS",
    "CalendarError",
    "DeadlineUnit",
    "HolidayTable",
    "WorkCalendar",
    "load_holiday_file",
    "parse_periods",
]

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MINUTES = 24 * 60
# A walk over more days than this means the calendar has (almost) no working time left.
MAX_DAYS_SCANNED = 366 * 30
# Cached days per calendar; a replay spans a few years at most, so this never thrashes.
MAX_CACHED_DAYS = 8192
# Deadlines set in a year's last weeks run into the next year, whose schedule the State
# Council publishes only in November or December: start-up looks this far ahead.
NEXT_YEAR_LEAD_DAYS = 31


class CalendarError(ValueError):
    """The calendar configuration or a deadline request is invalid."""


class DeadlineUnit(StrEnum):
    """How a category's time limit is counted (the ``deadline_unit`` column)."""

    WORK_HOURS = "work_hours"
    WORK_DAYS = "work_days"
    CLOCK_HOURS = "clock_hours"


def _minutes(text: str, what: str) -> int:
    hh, sep, mm = text.strip().partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit() or len(mm) != 2:
        raise CalendarError(f"{what}: expected HH:MM, got {text!r}")
    value = int(hh) * 60 + int(mm)
    if int(mm) >= 60 or value > DAY_MINUTES:
        raise CalendarError(f"{what}: {text!r} is not a time of day")
    return value


def parse_periods(
    day_start: str, day_end: str, breaks: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[int, int], ...]:
    """Working periods of a day as ``(start, end)`` minutes since local midnight.

    ``breaks`` are ``(HH:MM, HH:MM)`` ranges (the lunch break) that must lie inside the
    day and must not overlap.
    """
    start = _minutes(day_start, "work_day_start")
    end = _minutes(day_end, "work_day_end")
    if end <= start:
        raise CalendarError(f"work day ends ({day_end}) before it starts ({day_start})")
    cuts: list[tuple[int, int]] = []
    for lo_text, hi_text in breaks:
        lo, hi = _minutes(lo_text, "work_breaks"), _minutes(hi_text, "work_breaks")
        if not start < lo < hi < end:
            raise CalendarError(f"work_breaks: {lo_text}-{hi_text} is not inside the work day")
        cuts.append((lo, hi))
    cuts.sort()
    periods: list[tuple[int, int]] = []
    cursor = start
    for lo, hi in cuts:
        if lo < cursor:
            raise CalendarError(f"work_breaks overlap: {breaks!r}")
        periods.append((cursor, lo))
        cursor = hi
    periods.append((cursor, end))
    return tuple(periods)


# a table row's ``basis``: the State Council's notice (the default), or the law alone
_BASES = ("notice", "statutory")


@dataclass(frozen=True)
class HolidayTable:
    holidays: frozenset[date]
    workdays: frozenset[date]  # adjusted working days (调休)
    statutory: frozenset[date]  # the rows of either kind whose basis is the law alone

    @property
    def days(self) -> frozenset[date]:
        return self.holidays | self.workdays

    @property
    def provisional_years(self) -> frozenset[int]:
        """Years whose every row is statutory: no notice is known for them yet."""
        years = {d.year for d in self.days}
        return frozenset(y for y in years if all(d in self.statutory for d in self._of(y)))

    def _of(self, year: int) -> list[date]:
        return [d for d in self.days if d.year == year]


def load_holiday_file(path: Path) -> HolidayTable:
    """Read a ``date,kind,name[,basis]`` table (kind ``holiday`` or ``workday``; basis
    ``notice``, the default, or ``statutory``)."""
    if not path.is_file():
        raise CalendarError(f"holiday file {path} does not exist")
    holidays: set[date] = set()
    workdays: set[date] = set()
    statutory: set[date] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"date", "kind"} <= set(reader.fieldnames):
            raise CalendarError(f"{path}: header must include date,kind")
        for lineno, row in enumerate(reader, 2):
            try:
                day = date.fromisoformat(row["date"].strip())
            except ValueError as exc:
                raise CalendarError(f"{path}:{lineno}: bad date {row['date']!r}") from exc
            kind = row["kind"].strip()
            if kind == "holiday":
                holidays.add(day)
            elif kind == "workday":
                workdays.add(day)
            else:
                raise CalendarError(f"{path}:{lineno}: kind must be holiday|workday, got {kind!r}")
            basis = (row.get("basis") or "notice").strip()
            if basis not in _BASES:
                raise CalendarError(
                    f"{path}:{lineno}: basis must be notice|statutory, got {basis!r}"
                )
            if basis == "statutory":
                statutory.add(day)
    return HolidayTable(frozenset(holidays), frozenset(workdays), frozenset(statutory))


def _resolve(name: str) -> Path:
    # A bare name refers to the tables shipped in streams/data; anything else is a path.
    return DATA_DIR / name if "/" not in name and "\\" not in name else Path(name).expanduser()


def _years_text(years: Iterable[int]) -> str:
    return ", ".join(str(y) for y in sorted(years)) or "no year"


def _how_to_cover(years: list[int]) -> str:
    first = years[0]
    return (
        f"add a date,kind,name table per year (holidays_cn_{first}.csv: "
        f"`python scripts/gen_holidays.py {first}` once the chinesecalendar package has "
        "that year, or by hand from the State Council's notice; until then "
        f"`python scripts/gen_holidays.py --statutory {first}` writes the law's holidays) "
        "to CITYSTREAM_HOLIDAY_FILES"
    )


@dataclass(frozen=True)
class WorkCalendar:
    """Working periods per day, weekends, holidays and adjusted working days (调休)."""

    timezone: str
    periods: tuple[tuple[int, int], ...]
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    weekend: frozenset[int] = frozenset({5, 6})  # date.weekday(): Saturday, Sunday
    # Years whose holidays and 调休 days are known (the years of the tables' dates).
    covered_years: frozenset[int] = frozenset()
    # Covered years known from the law alone, before the notice (a subset of covered_years)
    provisional_years: frozenset[int] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _days: dict[int, tuple[tuple[int, int], ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    # lookups in uncovered years since the last take_uncovered(), and every such year met
    _uncovered: Counter[int] = field(init=False, repr=False, compare=False, default_factory=Counter)
    _met: set[int] = field(init=False, repr=False, compare=False, default_factory=set)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"unknown timezone {self.timezone!r}") from exc
        if not self.periods:
            raise CalendarError("a work calendar needs at least one working period")
        cursor = 0
        for lo, hi in self.periods:
            if not cursor <= lo < hi <= DAY_MINUTES:
                raise CalendarError(f"working periods must be sorted and disjoint: {self.periods}")
            cursor = hi
        if len(self.weekend) >= 7 or not self.weekend <= set(range(7)):
            raise CalendarError(f"weekend must be a proper subset of 0..6, got {self.weekend}")
        both = self.holidays & self.workdays
        if both:
            raise CalendarError(f"dates both holiday and working day: {sorted(both)}")

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkCalendar:
        """The calendar configured by ``timezone``, ``work_*`` and the holiday settings."""
        holidays: set[date] = set(settings.calendar.holidays)
        workdays: set[date] = set(settings.calendar.workdays_extra)
        tables = []
        for name in settings.calendar.holiday_files:
            path = _resolve(name)
            table = load_holiday_file(path)
            if not table.days:
                raise CalendarError(f"holiday file {path} lists no dates, so covers no year")
            tables.append(table)
            holidays |= table.holidays
            workdays |= table.workdays
        covered = {day.year for t in tables for day in t.days}
        # a year is provisional while no file has a row of the notice for it
        noticed = {day.year for t in tables for day in t.days - t.statutory}
        provisional = {y for t in tables for y in t.provisional_years} - noticed
        return cls(
            timezone=settings.calendar.timezone,
            periods=parse_periods(
                settings.calendar.work_day_start,
                settings.calendar.work_day_end,
                settings.calendar.work_breaks,
            ),
            holidays=frozenset(holidays),
            workdays=frozenset(workdays),
            covered_years=frozenset(covered),
            provisional_years=frozenset(provisional),
        )

    # -- coverage ---------------------------------------------------------------------

    def require_coverage(self, now_ms: int) -> None:
        """Start-up check: the current year must be covered by a holiday table.

        Raises :class:`CalendarError` naming the missing years when the current local year
        is not covered. Next year's table is only warned about, within
        :data:`NEXT_YEAR_LEAD_DAYS` of the new year: it is published late in the year (and
        reaches the chinesecalendar package later still), and refusing to start the whole
        pipeline for the few deadlines that cross into January would do more harm. Those
        lookups are counted and logged at run time like any other uncovered year. A
        provisional table (the law's holidays, no notice yet) is warned about at every
        start while its year is this one or the next.
        """
        today = self.local_date(now_ms)
        ahead = (today + timedelta(days=NEXT_YEAR_LEAD_DAYS)).year
        missing = sorted({today.year, ahead} - self.covered_years)
        if today.year in missing:
            raise CalendarError(
                f"no holiday table covers {_years_text(missing)} (the tables loaded "
                f"cover {_years_text(self.covered_years)}), so public holidays there would "
                f"count as working days; {_how_to_cover(missing)}"
            )
        if missing:
            log.warning(
                "no holiday table covers %s yet: deadlines running into it will count "
                "public holidays there as working days; %s",
                _years_text(missing),
                _how_to_cover(missing),
            )
        provisional = sorted({today.year, ahead} & self.provisional_years)
        if provisional:
            log.warning(
                "the holiday table of %s is provisional: the public holidays the law fixes, "
                "without the State Council's notice (days bridged by 调休, weekend working "
                "days), so deadlines near them may be a day or two off; replace it with the "
                "notice's table (`python scripts/gen_holidays.py %d` once the chinesecalendar "
                "package has that year, or by hand from the notice)",
                _years_text(provisional),
                provisional[0],
            )

    def take_uncovered(self) -> dict[int, int]:
        """Lookups that met a year no table covers since the last call, by year.

        A lookup is one deadline, working-time span or day check, counted once per
        uncovered year it touches; the agents add these to a metric after each batch.
        """
        taken = dict(self._uncovered)
        self._uncovered.clear()
        return taken

    @property
    def uncovered_years(self) -> frozenset[int]:
        """Every uncovered year a lookup has met so far (each was logged once)."""
        return frozenset(self._met)

    def _check_coverage(self, first: int, last: int) -> None:
        # Days first..last (ordinals) are about to be used: count the uncovered years.
        low = date.fromordinal(first).year
        high = low if last == first else date.fromordinal(last).year
        for year in range(low, high + 1):
            if year in self.covered_years:
                continue
            self._uncovered[year] += 1
            if year not in self._met:
                self._met.add(year)
                log.warning(
                    "no holiday table covers %d: deadlines there count weekends only, not "
                    "public holidays and 调休 days (logged once per year; see the "
                    "citystream_calendar_uncovered_total metric); %s",
                    year,
                    _how_to_cover([year]),
                )

    # -- days -------------------------------------------------------------------------

    @property
    def day_ms(self) -> int:
        """Working milliseconds in one working day (the length of a 工作日)."""
        return sum(hi - lo for lo, hi in self.periods) * 60_000

    def is_working_day(self, day: date) -> bool:
        self._check_coverage(day.toordinal(), day.toordinal())
        return self._is_working_day(day)

    def _is_working_day(self, day: date) -> bool:
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        return day.weekday() not in self.weekend

    def local_date(self, ms: int) -> date:
        return datetime.fromtimestamp(ms // 1000, self._zone).date()

    def _instant(self, day: date, minute: int) -> int:
        # 24:00 is the next midnight; building it from the next date keeps DST days right.
        if minute == DAY_MINUTES:
            day, minute = day + timedelta(days=1), 0
        wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self._zone)
        return int(wall.timestamp()) * 1000

    def _intervals(self, ordinal: int) -> tuple[tuple[int, int], ...]:
        cached = self._days.get(ordinal)
        if cached is not None:
            return cached
        day = date.fromordinal(ordinal)
        spans: tuple[tuple[int, int], ...] = ()
        if self._is_working_day(day):
            spans = tuple(
                (self._instant(day, lo), self._instant(day, hi)) for lo, hi in self.periods
            )
        if len(self._days) >= MAX_CACHED_DAYS:
            self._days.clear()
        self._days[ordinal] = spans
        return spans

    def working_intervals(self, day: date) -> tuple[tuple[int, int], ...]:
        """The day's working time as absolute ``[start_ms, end_ms)`` intervals."""
        ordinal = day.toordinal()
        self._check_coverage(ordinal, ordinal)
        return self._intervals(ordinal)

    def is_working_time(self, ms: int) -> bool:
        ordinal = self.local_date(ms).toordinal()
        self._check_coverage(ordinal, ordinal)
        return any(lo <= ms < hi for lo, hi in self._intervals(ordinal))

    # -- arithmetic -------------------------------------------------------------------

    def add_work_ms(self, start_ms: int, work_ms: int) -> int:
        """The instant when ``work_ms`` of working time have elapsed after ``start_ms``.

        Time outside working periods does not count; a result that falls exactly on the
        end of a period stays there (a deadline of 12:00, not 14:00).
        """
        if work_ms < 0:
            raise CalendarError(f"cannot add negative working time ({work_ms} ms)")
        if work_ms == 0:
            return start_ms
        remaining = work_ms
        first = ordinal = self.local_date(start_ms).toordinal()
        for _ in range(MAX_DAYS_SCANNED):
            for lo, hi in self._intervals(ordinal):
                if hi <= start_ms:
                    continue
                begin = max(lo, start_ms)
                if remaining <= hi - begin:
                    self._check_coverage(first, ordinal)
                    return begin + remaining
                remaining -= hi - begin
            ordinal += 1
        raise CalendarError(f"no room for {work_ms} ms of working time within {MAX_DAYS_SCANNED} d")

    def add_work_hours(self, start_ms: int, hours: float) -> int:
        return self.add_work_ms(start_ms, round(hours * HOUR_MS))

    def add_work_days(self, start_ms: int, days: float) -> int:
        """Add working days, each worth :attr:`day_ms` of working time.

        Counting days as working time (rather than "same wall time N days later") keeps
        deadlines consistent with :meth:`work_ms_between`, which the on-time checks use.
        Friday 10:00 + 1 day is Monday 10:00; Friday 20:00 + 1 day is Monday's end of work.
        """
        return self.add_work_ms(start_ms, round(days * self.day_ms))

    @staticmethod
    def add_clock_hours(start_ms: int, hours: float) -> int:
        if hours < 0:
            raise CalendarError(f"cannot add negative clock hours ({hours})")
        return start_ms + round(hours * HOUR_MS)

    def deadline_for(
        self, start_ms: int, value: float, unit: DeadlineUnit | str, urgent: bool
    ) -> int:
        """Deadline of a time limit ``value`` in ``unit`` starting at ``start_ms``.

        Urgent cases run on the clock: working hours count as clock hours and working days
        as calendar days, since nobody waits for Monday to close an open manhole.
        """
        try:
            unit = DeadlineUnit(unit)
        except ValueError as exc:
            allowed = "|".join(u.value for u in DeadlineUnit)
            raise CalendarError(f"deadline unit must be {allowed}, got {unit!r}") from exc
        if value < 0:
            raise CalendarError(f"time limit must be >= 0, got {value}")
        if unit is DeadlineUnit.CLOCK_HOURS:
            return self.add_clock_hours(start_ms, value)
        if unit is DeadlineUnit.WORK_HOURS:
            return (
                self.add_clock_hours(start_ms, value)
                if urgent
                else self.add_work_hours(start_ms, value)
            )
        return (
            self.add_clock_hours(start_ms, 24 * value)
            if urgent
            else self.add_work_days(start_ms, value)
        )

    def resume_deadline(
        self, deadline_ms: int, held_at_ms: int, resumed_at_ms: int, *, on_clock: bool
    ) -> int:
        """The deadline after a hold (缓办) from ``held_at_ms`` to ``resumed_at_ms``.

        A hold pauses the time limit: the deadline moves on by the time spent on hold,
        counted like the deadline itself (working time, or clock time for urgent and
        clock-hour limits). For a case held before its deadline this grants the time left
        at the hold again from the resume.
        """
        if resumed_at_ms < held_at_ms:
            raise CalendarError(f"resume at {resumed_at_ms} precedes the hold at {held_at_ms}")
        if on_clock:
            return deadline_ms + (resumed_at_ms - held_at_ms)
        return self.add_work_ms(deadline_ms, self.work_ms_between(held_at_ms, resumed_at_ms))

    def work_ms_between(self, a_ms: int, b_ms: int) -> int:
        """Working milliseconds in ``[a_ms, b_ms)``; negative when ``b_ms < a_ms``."""
        if b_ms < a_ms:
            return -self.work_ms_between(b_ms, a_ms)
        total = 0
        last = self.local_date(b_ms).toordinal()
        ordinal = self.local_date(a_ms).toordinal()
        self._check_coverage(ordinal, last)
        while ordinal <= last:
            for lo, hi in self._intervals(ordinal):
                overlap = min(hi, b_ms) - max(lo, a_ms)
                if overlap > 0:
                    total += overlap
            ordinal += 1
        return total
