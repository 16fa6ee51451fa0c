"""The packaged inspector roster is the simulated district's, and the patrols follow it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from streams.reference.inspectors import SHIFTS, InspectorRoster, default_inspector_roster_path
from streams.simulator.district import District
from streams.simulator.patrols import schedule_day
from streams.simulator.roster_file import LEVEL_OF_ROLE, inspector_names, roster_csv


def test_committed_roster_is_what_the_code_generates(district: District) -> None:
    # If this fails, run: citystream simulate --write-district (and commit the files).
    committed = default_inspector_roster_path().read_text(encoding="utf-8")
    assert committed == roster_csv(district)


def test_names_are_distinct_and_stable(district: District) -> None:
    names = inspector_names(district.inspectors)
    assert len(set(names.values())) == len(district.inspectors)
    assert inspector_names(district.inspectors) == names


def test_every_simulated_patrol_follows_the_roster(district: District) -> None:
    roster = InspectorRoster.load(streets={s.name for s in district.streets})
    tz = ZoneInfo(district.timezone)
    assert roster.ids() == {i.inspector_id for i in district.inspectors}
    extras = 0
    for k in range(7):
        day = date(2023, 7, 31) + timedelta(days=k)
        for p in schedule_day(district, seed=5, day=day, extra_shifts=("evening",)):
            who = roster[p.inspector.inspector_id]
            assert who.level == LEVEL_OF_ROLE[p.inspector.role]
            assert who.department == p.inspector.department
            assert all(who.in_home_area(district.streets[leg.street].name) for leg in p.legs)
            start = datetime.fromtimestamp(p.start_ms / 1000, tz).strftime("%H:%M")
            lo, hi = SHIFTS[p.shift]
            assert lo <= start < hi, (p.patrol_id, p.shift, start)
            if p.shift == "evening":  # the scenario's extra shift, staff only
                assert who.level == "staff"
                continue
            rostered = who.rostered_on(day.weekday()) and p.shift in who.shifts
            # a principal leader may patrol on a day off the roster, never the others
            assert rostered or who.level == "principal_leader", p.patrol_id
            extras += not rostered
    assert extras > 0  # the week holds a leader's unplanned patrol
