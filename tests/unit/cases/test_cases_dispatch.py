"""Dispatch: category rules, on-time dispatch flags, handling deadlines, record shape."""

from __future__ import annotations

import json

import pytest

from streams.cases.calendar import DeadlineUnit
from streams.cases.dispatch import (
    CategoryRule,
    DispatchError,
    DispatchLimits,
    DispatchOrder,
    make_dispatch,
)
from streams.settings import load_settings

MIN = 60_000


def row(**change: str) -> dict[str, str]:
    base = {
        "id": "7",
        "key": "E0102",
        "department": "sanitation",
        "deadline_value": "4",
        "deadline_unit": "work_hours",
        "urgency": "normal",
    }
    return base | change


def test_rule_from_a_csv_row():
    rule = CategoryRule.from_row(row())
    assert rule == CategoryRule("E0102", "sanitation", 4.0, DeadlineUnit.WORK_HOURS, False)
    urgent = CategoryRule.from_row(row(urgency="urgent", deadline_unit=" clock_hours "))
    assert urgent.urgent and urgent.deadline_unit is DeadlineUnit.CLOCK_HOURS


def test_rule_built_by_hand_is_checked_too():
    rule = CategoryRule("C0101", "municipal", 2, "clock_hours", True)  # type: ignore[arg-type]
    assert rule.deadline_unit is DeadlineUnit.CLOCK_HOURS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"urgency": "asap"}, "urgent\\|normal"),
        ({"deadline_unit": "weeks"}, "deadline_unit must be"),
        ({"deadline_value": "soon"}, "bad deadline_value"),
        ({"deadline_value": "0"}, "must be > 0"),
        ({"department": ""}, "department"),
    ],
)
def test_bad_rules(change, message):
    with pytest.raises(DispatchError, match=message):
        CategoryRule.from_row(row(**change))


def test_rule_row_missing_columns():
    incomplete = row()
    del incomplete["urgency"], incomplete["department"]
    with pytest.raises(DispatchError, match="department, urgency"):
        CategoryRule.from_row(incomplete)


def test_limits_come_from_settings():
    limits = DispatchLimits.from_settings(
        load_settings(env={}, dispatch_limit_urgent_s=120, dispatch_limit_normal_s=900)
    )
    assert (limits.limit_ms(True), limits.limit_ms(False)) == (120_000, 900_000)
    with pytest.raises(DispatchError):
        DispatchLimits(0, 1)


@pytest.mark.parametrize(
    ("urgency", "delay_ms", "on_time"),
    [
        ("normal", 30 * MIN, True),
        ("normal", 30 * MIN + 1, False),
        ("urgent", 10 * MIN, True),
        ("urgent", 11 * MIN, False),
        ("normal", 0, True),
    ],
)
def test_dispatch_on_time_flag(cal, limits, at, urgency, delay_ms, on_time):
    opened = at("2023-07-31 09:00")
    rule = CategoryRule.from_row(row(urgency=urgency))
    order = make_dispatch(9, opened, rule, cal, opened + delay_ms, limits=limits)
    assert order.dispatched_on_time is on_time
    assert order.dispatch_due_ms - opened == (10 if urgency == "urgent" else 30) * MIN


def test_deadline_counts_from_dispatch_on_the_calendar(cal, limits, at, wall):
    opened = at("2023-08-04 15:50")  # a Friday
    normal = make_dispatch(
        1, opened, CategoryRule.from_row(row()), cal, at("2023-08-04 16:00"), limits=limits
    )
    assert wall(normal.deadline_ms) == "2023-08-07 11:00"
    urgent = make_dispatch(
        2,
        opened,
        CategoryRule.from_row(row(urgency="urgent")),
        cal,
        at("2023-08-04 16:00"),
        limits=limits,
    )
    assert wall(urgent.deadline_ms) == "2023-08-04 20:00"
    assert (normal.department, normal.category_key, normal.urgent) == ("sanitation", "E0102", False)


def test_dispatch_before_opening_is_an_error(cal, limits):
    rule = CategoryRule.from_row(row())
    with pytest.raises(DispatchError, match="precedes"):
        make_dispatch(1, 1_000_000, rule, cal, 999_999, limits=limits)


def test_order_record_round_trip(cal, limits, at):
    opened = at("2023-07-31 09:00")
    order = make_dispatch(5, opened, CategoryRule.from_row(row()), cal, opened, limits=limits)
    data = json.loads(json.dumps(order.to_dict()))
    assert data["deadline_unit"] == "work_hours"
    assert DispatchOrder.from_dict(data) == order
    assert order.update_id == "dispatch:5"
    with pytest.raises(DispatchError, match="lacks 'deadline_ms'"):
        DispatchOrder.from_dict({k: v for k, v in data.items() if k != "deadline_ms"})
    with pytest.raises(DispatchError, match="integer"):
        DispatchOrder.from_dict(data | {"case_id": "5"})
    with pytest.raises(DispatchError):
        DispatchOrder.from_dict(data | {"deadline_unit": "weeks"})
