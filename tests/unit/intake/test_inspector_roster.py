"""The inspector roster: the packaged file, lookups, and refusals naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.reference.inspectors import (
    LEVELS,
    SHIFTS,
    InspectorRoster,
    InspectorRosterError,
    default_inspector_roster_path,
)

HEADER = "inspector_id,name,department,level,home_streets,home_grids,weekdays,shifts\n"
GOOD = "INS-1,王伟,sanitation,staff,淮河路;泰山路,,mon;tue,morning\n"


def _roster(tmp_path: Path, rows: str, **kwargs: object) -> InspectorRoster:
    path = tmp_path / "inspectors.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return InspectorRoster.load(path, **kwargs)  # type: ignore[arg-type]


def test_the_packaged_roster_has_every_level_in_every_department() -> None:
    roster = InspectorRoster.load()
    assert roster.path == default_inspector_roster_path()
    assert len(roster) == 56 and "INS-001" in roster and "INS-999" not in roster
    for level in LEVELS:
        assert {i.department for i in roster.at_level(level)} == {
            "municipal",
            "landscaping",
            "sanitation",
            "enforcement",
        }
    head = roster["INS-001"]
    assert head.level == "principal_leader" and head.whole_district
    assert head.weekdays == frozenset({0, 2, 4}) and head.shifts == ("morning",)
    assert head.in_home_area(street="任何路")
    staff = roster["INS-005"]
    assert staff.level == "staff" and len(staff.home_streets) == 3
    assert staff.in_home_area(street=staff.home_streets[0])
    elsewhere = {s for i in roster for s in i.home_streets} - {"*", *staff.home_streets}
    assert elsewhere and not any(staff.in_home_area(street=s) for s in elsewhere)
    assert all(staff.rostered_on(d) for d in range(7))


def test_a_row_with_grids_only_and_its_lookups(tmp_path: Path) -> None:
    grids = "410611001001001;41061100200101"
    roster = _roster(tmp_path, f"INS-2,李敏,enforcement,section_chief,,{grids},sun,evening\n")
    who = roster["INS-2"]
    assert who.home_streets == () and not who.whole_district
    assert who.in_home_area(grid_code="410611001001001")
    assert not who.in_home_area(street="淮河路", grid_code="410611001001002")
    assert who.rostered_on(6) and not who.rostered_on(0)
    assert roster.ids() == frozenset({"INS-2"}) and [i.name for i in roster] == ["李敏"]
    with pytest.raises(ValueError, match="unknown level"):
        roster.at_level("boss")


def test_home_streets_are_checked_against_the_street_network_when_given(tmp_path: Path) -> None:
    assert "INS-1" in _roster(tmp_path, GOOD, streets={"淮河路", "泰山路"})
    with pytest.raises(InspectorRosterError, match=r"inspectors.csv:2: .*泰山路.* not in the"):
        _roster(tmp_path, GOOD, streets={"淮河路"})


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (",王伟,sanitation,staff,淮河路,,mon,morning", "inspector_id is empty"),
        ("INS-1,,sanitation,staff,淮河路,,mon,morning", "no name"),
        ("INS-1,王伟,police,staff,淮河路,,mon,morning", "department 'police'"),
        ("INS-1,王伟,sanitation,head,淮河路,,mon,morning", "level 'head'"),
        ("INS-1,王伟,sanitation,staff,,,mon,morning", "no home area"),
        ("INS-1,王伟,sanitation,staff,*;淮河路,,mon,morning", "either \\* or"),
        ("INS-1,王伟,sanitation,staff,,4106110010,mon,morning", "14 or 15 digit"),
        ("INS-1,王伟,sanitation,staff,淮河路;淮河路,,mon,morning", "twice"),
        ("INS-1,王伟,sanitation,staff,淮河路,,,morning", "at least one weekday"),
        ("INS-1,王伟,sanitation,staff,淮河路,,mon,", "at least one weekday and one shift"),
        ("INS-1,王伟,sanitation,staff,淮河路,,monday,morning", "weekdays 'monday'"),
        ("INS-1,王伟,sanitation,staff,淮河路,,mon,night", "shifts 'night'"),
        ("INS-1,王伟,sanitation,staff,淮河路,,mon;mon,morning", "twice"),
        ("INS-1,王伟,sanitation,staff,淮河路,,mon,morning,extra", "more cells"),
    ],
)
def test_bad_rows_are_refused_naming_the_line(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(InspectorRosterError, match=f"inspectors.csv:3: .*{message}"):
        _roster(tmp_path, GOOD.replace("INS-1", "INS-0") + row + "\n")


def test_duplicate_ids_empty_rosters_missing_files_and_columns(tmp_path: Path) -> None:
    with pytest.raises(InspectorRosterError, match="INS-1 is listed twice"):
        _roster(tmp_path, GOOD + GOOD)
    with pytest.raises(InspectorRosterError, match="lists nobody"):
        _roster(tmp_path, "")
    with pytest.raises(InspectorRosterError, match="does not exist"):
        InspectorRoster.load(tmp_path / "nope.csv")
    (tmp_path / "cols.csv").write_text("inspector_id,name\nINS-1,王伟\n", encoding="utf-8")
    with pytest.raises(InspectorRosterError, match="missing column"):
        InspectorRoster.load(tmp_path / "cols.csv")


def test_shift_windows_are_times_of_day_in_order() -> None:
    for start, end in SHIFTS.values():
        assert "00:00" <= start < end <= "24:00"
