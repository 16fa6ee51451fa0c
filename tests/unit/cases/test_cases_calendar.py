"""Working-hours calendar: lunch breaks, nights, weekends, holidays, 调休 and zones."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.cases.calendar import (
    HOUR_MS,
    CalendarError,
    DeadlineUnit,
    WorkCalendar,
    load_holiday_file,
    parse_periods,
)
from streams.settings import load_settings

# 2023-01-01 .. 2026-12-01 (Shanghai) in epoch ms: inside the packaged holiday tables, with
# room for the longest working time the properties add before the tables end.
SPAN_START = 1672502400000
SPAN_END = 1796054400000


def test_default_periods_and_day_length(cal):
    assert cal.periods == ((8 * 60 + 30, 12 * 60), (14 * 60, 17 * 60 + 30))
    assert cal.day_ms == 7 * HOUR_MS


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        ("2023-07-31 09:00", 2, "2023-07-31 11:00"),  # inside the morning
        ("2023-07-31 10:00", 2, "2023-07-31 12:00"),  # ends exactly at the lunch break
        ("2023-07-31 11:00", 2, "2023-07-31 15:00"),  # across lunch
        ("2023-07-31 12:30", 1, "2023-07-31 15:00"),  # starts during lunch
        ("2023-07-31 16:30", 4, "2023-08-01 11:30"),  # across the night
        ("2023-08-01 20:00", 1, "2023-08-02 09:30"),  # starts at night
        ("2023-08-02 06:00", 0.5, "2023-08-02 09:00"),  # starts before work
        ("2023-08-04 16:00", 4, "2023-08-07 11:00"),  # Friday to Monday
        ("2023-08-05 10:00", 1, "2023-08-07 09:30"),  # starts on a Saturday
        ("2023-09-28 16:00", 4, "2023-10-07 11:00"),  # National Day, then 调休 Saturday
        ("2023-01-20 17:00", 1, "2023-01-28 09:00"),  # Spring Festival, 调休 Saturday
        ("2023-04-04 17:00", 1, "2023-04-06 09:00"),  # Qingming (Wednesday)
        ("2023-06-21 17:00", 1, "2023-06-25 09:00"),  # Dragon Boat, then 调休 Sunday
        ("2024-02-09 17:00", 1, "2024-02-18 09:00"),  # 2024 Spring Festival, 调休 Sunday
        ("2023-07-31 08:30", 35, "2023-08-04 17:30"),  # a whole working week
    ],
)
def test_add_work_hours(cal, at, wall, start, hours, expected):
    assert wall(cal.add_work_hours(at(start), hours)) == expected


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        ("2023-08-04 10:00", 1, "2023-08-07 10:00"),  # Friday -> Monday, same time
        ("2023-08-04 20:00", 1, "2023-08-07 17:30"),  # after hours: end of next working day
        ("2023-07-31 09:00", 5, "2023-08-07 09:00"),
        ("2023-04-27 10:00", 5, "2023-05-08 10:00"),  # Labour Day and 调休 Saturday May 6
        ("2023-07-31 08:30", 0.5, "2023-07-31 12:00"),  # half a day = 3.5 working hours
    ],
)
def test_add_work_days(cal, at, wall, start, days, expected):
    assert wall(cal.add_work_days(at(start), days)) == expected


def test_clock_hours_ignore_the_calendar(cal, at, wall):
    assert wall(cal.add_clock_hours(at("2023-09-30 23:00"), 2)) == "2023-10-01 01:00"
    with pytest.raises(CalendarError):
        cal.add_clock_hours(0, -1)


def test_zero_and_negative_working_time(cal, at):
    night = at("2023-08-01 22:00")
    assert cal.add_work_ms(night, 0) == night
    with pytest.raises(CalendarError, match="negative"):
        cal.add_work_ms(night, -1)


def test_working_days_holidays_and_adjusted_days(cal):
    assert cal.is_working_day(date(2023, 7, 31))  # Monday
    assert not cal.is_working_day(date(2023, 7, 30))  # Sunday
    assert not cal.is_working_day(date(2023, 10, 2))  # National Day (Monday)
    assert not cal.is_working_day(date(2023, 4, 5))  # Qingming (Wednesday)
    assert cal.is_working_day(date(2023, 10, 7))  # 调休 Saturday
    assert cal.is_working_day(date(2023, 1, 29))  # 调休 Sunday
    assert cal.is_working_day(date(2024, 10, 12))  # 2024 调休 Saturday


@pytest.mark.parametrize(
    ("urgent", "value", "unit", "expected"),
    [
        (False, 4, "work_hours", "2023-08-07 11:00"),
        (True, 4, "work_hours", "2023-08-04 20:00"),  # urgent: clock hours
        (False, 2, "clock_hours", "2023-08-04 18:00"),
        (False, 1, "work_days", "2023-08-07 16:00"),
        (True, 1, "work_days", "2023-08-05 16:00"),  # urgent: calendar days
        (False, 2, DeadlineUnit.WORK_HOURS, "2023-08-07 09:00"),
    ],
)
def test_deadline_for(cal, at, wall, urgent, value, unit, expected):
    assert wall(cal.deadline_for(at("2023-08-04 16:00"), value, unit, urgent)) == expected


def test_deadline_for_rejects_bad_input(cal):
    with pytest.raises(CalendarError, match="work_hours\\|work_days\\|clock_hours"):
        cal.deadline_for(0, 1, "fortnights", False)
    with pytest.raises(CalendarError, match=">= 0"):
        cal.deadline_for(0, -1, "work_hours", False)


def test_work_ms_between(cal, at):
    assert cal.work_ms_between(at("2023-07-31 11:00"), at("2023-07-31 15:00")) == 2 * HOUR_MS
    friday, monday = at("2023-08-04 16:00"), at("2023-08-07 10:00")
    assert cal.work_ms_between(friday, monday) == round(3 * HOUR_MS)
    assert cal.work_ms_between(monday, friday) == -3 * HOUR_MS
    holiday = at("2023-10-01 00:00"), at("2023-10-06 23:59")
    assert cal.work_ms_between(*holiday) == 0
    assert cal.work_ms_between(at("2023-10-07 00:00"), at("2023-10-08 23:59")) == 14 * HOUR_MS


def test_zone_decides_the_wall_clock():
    periods = parse_periods("08:30", "17:30", (("12:00", "14:00"),))
    shanghai = WorkCalendar("Asia/Shanghai", periods)
    utc = WorkCalendar("UTC", periods)
    instant = int(datetime(2023, 7, 31, 1, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    assert shanghai.is_working_time(instant)  # 09:00 in Shanghai
    assert not utc.is_working_time(instant)  # 01:00 in UTC
    assert utc.add_work_hours(instant, 1) - instant == (8 * 60 + 30) * 60_000


def test_daylight_saving_day_is_23_hours_long():
    # A round-the-clock calendar on Berlin's spring-forward Sunday made a working day.
    berlin = WorkCalendar("Europe/Berlin", ((0, 24 * 60),), workdays=frozenset({date(2023, 3, 26)}))
    zone = ZoneInfo("Europe/Berlin")
    midnight = int(datetime(2023, 3, 26, tzinfo=zone).timestamp() * 1000)
    next_midnight = int(datetime(2023, 3, 27, tzinfo=zone).timestamp() * 1000)
    assert berlin.work_ms_between(midnight, next_midnight) == 23 * HOUR_MS
    assert berlin.add_work_hours(midnight, 23) == next_midnight


@pytest.mark.parametrize(
    ("start", "end", "breaks", "message"),
    [
        ("8:3", "17:30", (), "HH:MM"),
        ("17:30", "08:30", (), "before it starts"),
        ("08:30", "17:30", (("07:00", "08:00"),), "not inside"),
        ("08:30", "17:30", (("12:00", "14:00"), ("13:00", "15:00")), "overlap"),
        ("08:30", "17:30", (("12:00", "12"),), "HH:MM"),
        ("08:30", "25:00", (), "not a time of day"),
    ],
)
def test_parse_periods_rejects(start, end, breaks, message):
    with pytest.raises(CalendarError, match=message):
        parse_periods(start, end, breaks)


def test_parse_periods_without_breaks_and_with_two():
    assert parse_periods("09:00", "18:00") == ((540, 1080),)
    two = parse_periods("08:00", "20:00", (("15:00", "15:30"), ("12:00", "13:00")))
    assert two == ((480, 720), (780, 900), (930, 1200))


def test_calendar_validation():
    periods = ((510, 720),)
    with pytest.raises(CalendarError, match="timezone"):
        WorkCalendar("Mars/Olympus", periods)
    with pytest.raises(CalendarError, match="at least one"):
        WorkCalendar("UTC", ())
    with pytest.raises(CalendarError, match="sorted"):
        WorkCalendar("UTC", ((600, 700), (650, 800)))
    with pytest.raises(CalendarError, match="weekend"):
        WorkCalendar("UTC", periods, weekend=frozenset(range(7)))
    day = date(2023, 10, 7)
    with pytest.raises(CalendarError, match="both"):
        WorkCalendar("UTC", periods, holidays=frozenset({day}), workdays=frozenset({day}))


def test_settings_drive_the_calendar(tmp_path: Path):
    table = tmp_path / "off.csv"
    table.write_text("date,kind,name\n2023-08-02,holiday,test\n2023-08-05,workday,test\n")
    cal = WorkCalendar.from_settings(
        load_settings(
            env={},
            timezone="UTC",
            work_day_start="09:00",
            work_day_end="17:00",
            work_breaks=(),
            holiday_files=(str(table),),
            holidays=(date(2023, 8, 3),),
            workdays_extra=(date(2023, 8, 6),),
        )
    )
    assert cal.periods == ((540, 1020),)
    assert cal.holidays == {date(2023, 8, 2), date(2023, 8, 3)}
    assert cal.workdays == {date(2023, 8, 5), date(2023, 8, 6)}
    assert cal.is_working_day(date(2023, 10, 2))  # packaged tables not loaded: a Monday


def test_holiday_file_errors(tmp_path: Path):
    with pytest.raises(CalendarError, match="does not exist"):
        load_holiday_file(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,kind,name\n2023-08-02,day_off,x\n")
    with pytest.raises(CalendarError, match=r"bad.csv:2: kind"):
        load_holiday_file(bad)
    bad.write_text("date,kind\n2023-13-02,holiday\n")
    with pytest.raises(CalendarError, match="bad date"):
        load_holiday_file(bad)
    bad.write_text("day,what\n")
    with pytest.raises(CalendarError, match="header"):
        load_holiday_file(bad)


def test_packaged_tables_mark_only_weekends_as_adjusted_working_days(cal):
    # 调休 moves weekend days into the week: every adjusted working day is a Sat/Sun.
    assert len(cal.workdays) == 26  # 2023: 6, 2024: 9, 2025: 5, 2026: 6
    assert all(day.weekday() >= 5 for day in cal.workdays)
    assert all(not cal.is_working_day(day) for day in cal.holidays)


instants = st.integers(min_value=SPAN_START, max_value=SPAN_END)
work_ms = st.integers(min_value=0, max_value=60 * HOUR_MS)


@settings(max_examples=80, deadline=None)
@given(start=instants, amount=work_ms)
def test_work_between_inverts_add_work(cal, start, amount):
    end = cal.add_work_ms(start, amount)
    assert end >= start
    assert cal.work_ms_between(start, end) == amount
    if amount:
        assert cal.is_working_time(end - 1)  # the deadline is reached while working


@settings(max_examples=60, deadline=None)
@given(start=instants, hours=st.integers(min_value=1, max_value=80))
def test_whole_hours_from_inside_working_time(cal, start, hours):
    inside = cal.add_work_ms(start, 1)  # the first working millisecond at or after start
    assert cal.is_working_time(inside)
    assert cal.work_ms_between(inside, cal.add_work_hours(inside, hours)) == hours * HOUR_MS


@settings(max_examples=60, deadline=None)
@given(start=instants, a=work_ms, b=work_ms)
def test_add_work_is_monotonic_and_additive(cal, start, a, b):
    low, high = sorted((a, b))
    assert cal.add_work_ms(start, low) <= cal.add_work_ms(start, high)
    # Adding in two steps lands where adding the sum does, also when the first step
    # stops exactly at the end of a period (12:00).
    assert cal.add_work_ms(cal.add_work_ms(start, a), b) == cal.add_work_ms(start, a + b)
