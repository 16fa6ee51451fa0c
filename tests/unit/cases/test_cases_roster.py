"""The supervisor roster: loading checks, who is on duty, area types."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.reference.supervisors import DISTRICT_DESK, RosterError, SupervisorRoster

HEADER = "street,area,supervisor_id,shift_start,shift_end\n"


def _roster(tmp_path: Path, rows: str) -> SupervisorRoster:
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return SupervisorRoster.load(path)


def test_the_packaged_roster_covers_every_street_of_the_district() -> None:
    roster = SupervisorRoster.load()
    streets = {f"410611{n:03d}" for n in range(1, 7)}
    assert streets | {DISTRICT_DESK} == set(roster.shifts)
    assert {roster.area_of(s) for s in streets} == {"urban", "rural"}
    assert roster.on_duty("410611001", 9 * 60, 0) in {"SUP-001-01", "SUP-001-02"}
    assert roster.on_duty("410611001", 23 * 60, 0) == "SUP-001-03"
    # a place in no listed street (e.g. outside every unit grid) goes to the district desk
    assert roster.on_duty("", 3 * 60, 5) == "SUP-000-02"


def test_pick_spreads_the_work_over_everyone_on_duty(tmp_path: Path) -> None:
    roster = _roster(
        tmp_path,
        "*,urban,A,00:00,24:00\n*,urban,B,00:00,24:00\n410611001,rural,C,06:00,06:00\n",
    )
    assert {roster.on_duty("999", 600, pick) for pick in range(4)} == {"A", "B"}
    assert roster.on_duty("410611001", 5 * 60, 1) == "C"  # 06:00-06:00 is all day
    assert roster.area_of("410611001") == "rural" and roster.area_of("x") == "urban"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("410611001,urban,A,00:00,24:00\n", "district desk"),
        ("*,urban,A,08:00,20:00\n", "nobody on duty at 00:00"),
        ("*,urban,A,00:00,12:00\n*,urban,B,12:30,24:00\n", "nobody on duty at 12:00"),
        ("*,suburban,A,00:00,24:00\n", "area"),
        ("*,urban,A,00:00,24:00\n*,rural,B,00:00,24:00\n", "both urban and rural"),
        ("4106,urban,A,00:00,24:00\n*,urban,A,00:00,24:00\n", "9 digits"),
        ("*,urban,A,8h,24:00\n", "HH:MM"),
        ("*,urban,A,00:00,25:00\n", "time of day"),
        ("*,urban, ,00:00,24:00\n", "supervisor_id"),
    ],
)
def test_bad_rosters_are_refused(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(RosterError, match=message):
        _roster(tmp_path, rows)


def test_missing_file_or_columns(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match="does not exist"):
        SupervisorRoster.load(tmp_path / "none.csv")
    path = tmp_path / "r.csv"
    path.write_text("street,area\n*,urban\n", encoding="utf-8")
    with pytest.raises(RosterError, match="missing column"):
        SupervisorRoster.load(path)
