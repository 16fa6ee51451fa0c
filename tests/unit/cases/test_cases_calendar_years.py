"""Holiday years: the 2025/2026 schedules, deadlines across them, and uncovered years."""

from __future__ import annotations

import csv
import logging
from datetime import date, timedelta
from pathlib import Path

import pytest

from streams.cases.calendar import DATA_DIR, HOUR_MS, CalendarError, WorkCalendar
from streams.cases.dispatch import CategoryRule, make_dispatch
from streams.settings import load_settings

MIN = 60_000
CALENDAR_LOG = "streams.cases.calendar"


def _days(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# The State Council's notices (国办发明电): days off, and the weekend days worked (调休).
OFF_2025 = [
    date(2025, 1, 1),
    *_days("2025-01-28", "2025-02-04"),  # Spring Festival
    *_days("2025-04-04", "2025-04-06"),  # Qingming
    *_days("2025-05-01", "2025-05-05"),  # Labour Day
    *_days("2025-05-31", "2025-06-02"),  # Dragon Boat
    *_days("2025-10-01", "2025-10-08"),  # National Day and Mid-Autumn
]
WORKED_2025 = [date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27)]
WORKED_2025 += [date(2025, 9, 28), date(2025, 10, 11)]
OFF_2026 = [
    *_days("2026-01-01", "2026-01-03"),  # New Year
    *_days("2026-02-15", "2026-02-23"),  # Spring Festival
    *_days("2026-04-04", "2026-04-06"),  # Qingming
    *_days("2026-05-01", "2026-05-05"),  # Labour Day
    *_days("2026-06-19", "2026-06-21"),  # Dragon Boat
    *_days("2026-09-25", "2026-09-27"),  # Mid-Autumn
    *_days("2026-10-01", "2026-10-07"),  # National Day
]
WORKED_2026 = [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9)]
WORKED_2026 += [date(2026, 9, 20), date(2026, 10, 10)]


def _rule(unit: str, value: str) -> CategoryRule:
    """The first normal category of the packaged table with this time limit."""
    with (DATA_DIR / "categories.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if (row["deadline_unit"], row["deadline_value"], row["urgency"]) == (
                unit,
                value,
                "normal",
            ):
                return CategoryRule.from_row(row)
    raise AssertionError(f"no normal category limited to {value} {unit}")


def _fresh() -> WorkCalendar:
    # Not the session fixture: these tests read the calendar's uncovered-year counters.
    return WorkCalendar.from_settings(load_settings(env={}))


@pytest.mark.parametrize(("off", "worked"), [(OFF_2025, WORKED_2025), (OFF_2026, WORKED_2026)])
def test_schedule_matches_the_state_council_notice(cal, off, worked):
    assert all(day.weekday() >= 5 for day in worked)  # 调休 moves weekend days into the week
    assert [d for d in off if cal.is_working_day(d)] == []
    assert [d for d in worked if not cal.is_working_day(d)] == []
    # and nothing else is special (weekend days off in the table change nothing)
    year = off[0].year
    assert {d for d in cal.workdays if d.year == year} == set(worked)
    weekdays_off = {d for d in cal.holidays if d.year == year and d.weekday() < 5}
    assert weekdays_off == {d for d in off if d.weekday() < 5}


@pytest.mark.parametrize("year", [2025, 2026])
def test_spring_festival_has_no_working_time(cal, at, year):
    eve = {2025: "2025-01-28", 2026: "2026-02-15"}[year]
    last = {2025: "2025-02-04", 2026: "2026-02-23"}[year]
    assert cal.work_ms_between(at(f"{eve} 00:00"), at(f"{last} 23:59")) == 0
    assert not any(cal.is_working_day(d) for d in _days(eve, last))


@pytest.mark.parametrize("saturday", ["2026-02-14", "2026-10-10", "2025-02-08"])
def test_adjusted_saturday_is_a_whole_working_day(cal, at, saturday):
    assert date.fromisoformat(saturday).weekday() == 5
    assert cal.is_working_day(date.fromisoformat(saturday))
    assert cal.work_ms_between(at(f"{saturday} 00:00"), at(f"{saturday} 23:59")) == 7 * HOUR_MS


@pytest.mark.parametrize(
    ("unit", "value", "due"),
    [
        # 15:05-17:30 on Sep 30, then Oct 8 and 9, then the 调休 Saturday Oct 10
        ("work_days", "3", "2026-10-10 15:05"),
        ("work_hours", "4", "2026-10-08 10:05"),
    ],
)
def test_dispatch_before_national_day_2026_is_due_after_it(at, wall, limits, unit, value, due):
    calendar = _fresh()
    opened = at("2026-09-30 15:00")
    order = make_dispatch(1, opened, _rule(unit, value), calendar, opened + 5 * MIN, limits=limits)
    assert order.dispatched_on_time and not order.urgent
    assert wall(order.deadline_ms) == due
    assert calendar.take_uncovered() == {}


def test_the_default_calendar_covers_the_shipped_years(cal):
    assert cal.covered_years == frozenset({2023, 2024, 2025, 2026, 2027})
    # 2027's notice is not out (in chinesecalendar) yet: the law's holidays stand in
    assert cal.provisional_years == frozenset({2027})


def test_a_deadline_over_spring_festival_2027_skips_the_law_s_holidays(at, wall):
    # New Year's Eve (Fri 5 Feb) to the 3rd day (Mon 8 Feb) are off, the weekend between
    # anyway: three working days from Thursday 4 Feb are Tue 9, Wed 10 and Thu 11 (weekends
    # only: Fri 5, Mon 8, Tue 9)
    calendar = _fresh()
    assert wall(calendar.add_work_days(at("2027-02-04 10:00"), 3)) == "2027-02-11 10:00"
    assert calendar.take_uncovered() == {}


def test_uncovered_year_is_counted_and_logged_once(at, wall, caplog):
    calendar = _fresh()
    with caplog.at_level(logging.WARNING, logger=CALENDAR_LOG):
        # 2019-10-01 is National Day, but no table says so: it counts as a Tuesday.
        assert wall(calendar.add_work_hours(at("2019-09-30 17:00"), 1)) == "2019-10-01 09:00"
        assert calendar.is_working_day(date(2019, 10, 2))
        assert calendar.work_ms_between(at("2019-10-01 00:00"), at("2019-10-02 00:00")) > 0
    assert calendar.take_uncovered() == {2019: 3}
    assert calendar.take_uncovered() == {}  # taken: the agents add each batch to a metric
    assert calendar.uncovered_years == frozenset({2019})
    warnings = [r for r in caplog.records if r.name == CALENDAR_LOG]
    assert len(warnings) == 1
    assert "2019" in warnings[0].getMessage()
    assert "CITYSTREAM_HOLIDAY_FILES" in warnings[0].getMessage()


def test_deadline_running_into_an_uncovered_year_is_counted(at, limits):
    calendar = _fresh()
    opened = at("2027-12-30 16:00")
    make_dispatch(2, opened, _rule("work_days", "3"), calendar, opened, limits=limits)
    assert calendar.take_uncovered() == {2028: 1}
    calendar.is_working_time(at("2027-12-30 16:00"))
    assert calendar.take_uncovered() == {}


def test_startup_fails_when_the_current_year_is_not_covered(at):
    with pytest.raises(CalendarError) as info:
        _fresh().require_coverage(at("2028-03-01 09:00"))
    message = str(info.value)
    assert "no holiday table covers 2028" in message
    assert "2023, 2024, 2025, 2026, 2027" in message
    assert "gen_holidays.py 2028" in message and "CITYSTREAM_HOLIDAY_FILES" in message
    assert "--statutory 2028" in message


def test_startup_checks_the_local_year(at):
    # 2028-01-01 00:30 in Shanghai is still 2027 in UTC: Shanghai's year decides.
    with pytest.raises(CalendarError, match="2028"):
        _fresh().require_coverage(at("2028-01-01 00:30"))


def test_startup_warns_about_next_year_in_its_last_weeks(at, caplog):
    calendar = _fresh()
    with caplog.at_level(logging.WARNING, logger=CALENDAR_LOG):
        calendar.require_coverage(at("2026-06-01 09:00"))
        assert caplog.records == []
        calendar.require_coverage(at("2027-06-01 09:00"))
        calendar.require_coverage(at("2027-12-07 09:00"))
    uncovered = [r.getMessage() for r in caplog.records if "no holiday table" in r.getMessage()]
    assert len(uncovered) == 1
    assert "no holiday table covers 2028 yet" in uncovered[0]


def test_a_provisional_year_starts_with_a_warning_at_every_start(at, caplog):
    calendar = _fresh()
    with caplog.at_level(logging.WARNING, logger=CALENDAR_LOG):
        calendar.require_coverage(at("2026-06-01 09:00"))
        assert caplog.records == []
        calendar.require_coverage(at("2026-12-07 09:00"))  # deadlines reach into 2027
        calendar.require_coverage(at("2027-01-01 09:00"))  # a restart on New Year's Day
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert all("holiday table of 2027 is provisional" in m for m in messages)
    assert "gen_holidays.py 2027" in messages[0]


def test_a_notice_table_supersedes_the_provisional_one(tmp_path: Path, at):
    notice = tmp_path / "holidays_2027_notice.csv"
    notice.write_text("date,kind,name\n2027-02-09,holiday,Spring Festival\n")
    files = (*load_settings(env={}).calendar.holiday_files, str(notice))
    calendar = WorkCalendar.from_settings(load_settings(env={}, holiday_files=files))
    assert calendar.provisional_years == frozenset()
    assert not calendar.is_working_day(date(2027, 2, 9))


def test_startup_fails_without_tables(at):
    calendar = WorkCalendar.from_settings(load_settings(env={}, holiday_files=()))
    assert calendar.covered_years == frozenset()
    with pytest.raises(CalendarError, match="tables loaded cover no year"):
        calendar.require_coverage(at("2026-12-07 09:00"))


def test_coverage_is_the_years_of_the_table_dates(tmp_path: Path):
    table = tmp_path / "city.csv"
    table.write_text("date,kind,name\n2031-01-01,holiday,New Year\n2032-01-01,holiday,x\n")
    calendar = WorkCalendar.from_settings(load_settings(env={}, holiday_files=(str(table),)))
    assert calendar.covered_years == frozenset({2031, 2032})
    empty = tmp_path / "empty.csv"
    empty.write_text("date,kind,name\n")
    with pytest.raises(CalendarError, match="lists no dates"):
        WorkCalendar.from_settings(load_settings(env={}, holiday_files=(str(empty),)))
