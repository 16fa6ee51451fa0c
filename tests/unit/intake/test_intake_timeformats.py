"""The import's fast time reading says exactly what ``strptime`` and zoneinfo say."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.intake.adapters.csv311 import Csv311Mapping
from streams.intake.adapters.timeformats import TimeFormat, ZoneClock

# zones with DST both ways, a negative DST (Dublin), half-hour offsets and a 30-minute DST
# step (Lord Howe), LMT offsets with seconds before 1900
ZONES = [
    "America/New_York",
    "Asia/Shanghai",
    "Europe/Dublin",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "UTC",
]
FORMATS = [
    "%m/%d/%Y %I:%M:%S %p",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S.%f",
    "%d.%m.%Y",
    "%Y-%m-%dT%H:%M:%S%z",  # %z: not compiled, strptime itself
]
_TIMES = st.datetimes(min_value=datetime(1880, 1, 1), max_value=datetime(2100, 12, 31))


@settings(max_examples=2000, deadline=None)
@given(when=_TIMES, zone=st.sampled_from(ZONES), micro=st.sampled_from([0, 5, 123_000, 999_700]))
def test_zone_clock_is_replace_tzinfo(when: datetime, zone: str, micro: int) -> None:
    when = when.replace(microsecond=micro, fold=0)  # parts carry no fold: a reading is fold 0
    aware = when.replace(tzinfo=ZoneInfo(zone))
    clock = ZoneClock(ZoneInfo(zone))
    parts = (when.year, when.month, when.day, when.hour, when.minute, when.second, micro)
    assert clock.stamp(parts) == (aware.isoformat(), round(aware.timestamp() * 1000))


def test_zone_clock_through_a_year_of_transitions() -> None:
    for zone in ZONES:
        clock, tz = ZoneClock(ZoneInfo(zone)), ZoneInfo(zone)
        for minutes in range(0, 366 * 24 * 60, 29):  # every 29 min of 2024: every :xx seen
            when = datetime(2024, 1, 1) + timedelta(minutes=minutes)
            aware = when.replace(tzinfo=tz)
            parts = (when.year, when.month, when.day, when.hour, when.minute, 0, 0)
            assert clock.stamp(parts) == (aware.isoformat(), round(aware.timestamp() * 1000))


def test_zone_clock_refuses_times_that_do_not_exist() -> None:
    clock = ZoneClock(ZoneInfo("Asia/Shanghai"))
    assert clock.stamp((2019, 2, 30, 1, 0, 0, 0)) is None
    assert clock.stamp((2019, 2, 3, 24, 0, 0, 0)) is None
    assert clock.stamp((2019, 2, 3, 1, 0, 60, 0)) is None  # strptime reads :60, datetime not


def _strptime(value: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(value, fmt)
    except ValueError:
        return None


@settings(max_examples=1500, deadline=None)
@given(when=_TIMES, fmt=st.sampled_from(FORMATS), zone=st.sampled_from([None, "+0800"]))
def test_time_format_is_strptime(when: datetime, fmt: str, zone: str | None) -> None:
    text = when.strftime(fmt.replace("%z", zone or "+0000"))
    assert TimeFormat(fmt).parse(text) == _strptime(text, fmt)


@pytest.mark.parametrize(
    "value",
    ["4/2/2024 1:05:00 pm", "04/02/2024 12:05:00 AM", "04/02/2024 13:05:00 PM",
     "13/45/2024 01:00:00 AM", "04/02/2024  01:05:00 AM", "04/02/2024 01:05:00", ""],
)  # fmt: skip
def test_odd_values_read_as_strptime_reads_them(value: str) -> None:
    fmt = "%m/%d/%Y %I:%M:%S %p"
    assert TimeFormat(fmt).parse(value) == _strptime(value, fmt)


@pytest.mark.parametrize(
    "value",
    ["04/02/2024 01:05:00 AM", "2024-04-02T01:05:00+0800", "2024-04-02T01:05:00.250",
     "2024/04/02 05:05:00+00", "03/10/2024 02:30:00 AM", "02/30/2024 01:00:00 AM", "soon"],
)  # fmt: skip
def test_a_mappings_fast_stamp_is_its_local_time(value: str) -> None:
    mapping = Csv311Mapping(
        "t",
        ZoneInfo("America/New_York"),
        ("%m/%d/%Y %I:%M:%S %p", "%Y-%m-%dT%H:%M:%S%z"),
        {"service_request_id": "id", "requested_datetime": "t", "service_code": "c"},
        {},
    )
    aware = mapping.local_time(value)
    want = None if aware is None else (aware.isoformat(), round(aware.timestamp() * 1000))
    assert mapping.local_stamp(value) == want
