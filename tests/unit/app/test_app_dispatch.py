"""The dispatch agent's pure part: a new case row to its case.updates and dispatch messages."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from app_cases import INSPECTOR, PATROL_CASE, SENSOR_CASE, case_rows

from streams.app import departments_agent, dispatch_agent
from streams.app.dispatch_agent import Dispatcher
from streams.app.metrics import Metrics
from streams.cases.calendar import CalendarError
from streams.cases.transitions import Action, CaseUpdate
from streams.dedup.engine import DedupEngine
from streams.reference.categories import CategoryTable
from streams.settings import Settings


@pytest.fixture(scope="module")
def dispatcher(settings: Settings) -> Dispatcher:
    return Dispatcher(settings)


@pytest.fixture(scope="module")
def cases(engine: DedupEngine) -> dict[int, dict[str, Any]]:
    return case_rows(engine)


def test_normal_case_is_opened_with_an_order(
    dispatcher: Dispatcher, cases: dict[int, dict[str, Any]]
) -> None:
    case = cases[SENSOR_CASE]
    cat = CategoryTable.load().by_id[case["category"]]
    messages, order = dispatcher.messages(case)
    assert len(messages) == 1
    opened = messages[0]
    assert opened["kind"] == "open"
    assert opened["order"] == order is not None
    assert opened["case"]["case_id"] == SENSOR_CASE
    assert opened["case"]["category_key"] == cat.key
    assert opened["case"]["department"] == order["department"] == cat.department
    assert opened["case"]["fixed_on_spot"] is False
    grid = opened["case"]["grid_code"]
    assert len(grid) == 15 and grid.isdigit() and grid.startswith("410611")
    assert order["case_id"] == SENSOR_CASE
    assert order["opened_at_ms"] == case["opened_at_ms"]
    # dispatched when the centre learned of it (its arrival), after the opening
    assert order["dispatched_at_ms"] == case["ingest_time_ms"] > case["opened_at_ms"]
    assert order["deadline_ms"] > order["dispatched_at_ms"] > case["opened_at_ms"]
    assert (cat.deadline_value, cat.deadline_unit) == (2, "clock_hours")
    assert order["deadline_ms"] == order["dispatched_at_ms"] + cat.deadline_value * 3_600_000
    assert order["urgent"] is (cat.urgency == "urgent")


def test_patrol_case_fixed_on_the_spot_is_closed_not_dispatched(
    dispatcher: Dispatcher, cases: dict[int, dict[str, Any]]
) -> None:
    case = cases[PATROL_CASE]
    cat = CategoryTable.load().by_id[case["category"]]
    messages, order = dispatcher.messages(case)
    assert order is None
    assert [m.get("kind") for m in messages] == ["open", None]
    assert messages[0]["order"] is None
    assert messages[0]["case"]["fixed_on_spot"] is True
    assert messages[0]["case"]["reporter"] == INSPECTOR
    closing = CaseUpdate.from_dict(messages[1])
    assert closing.action is Action.CLOSE_ON_SPOT
    assert closing.case_id == PATROL_CASE
    assert closing.actor == INSPECTOR
    assert closing.department == cat.department == "sanitation"
    assert closing.ts_ms == case["opened_at_ms"]


def test_fixed_flag_from_a_non_patrol_source_is_dispatched(
    dispatcher: Dispatcher, cases: dict[int, dict[str, Any]]
) -> None:
    case = {**cases[PATROL_CASE], "source": 1}  # a hotline call cannot fix anything itself
    messages, order = dispatcher.messages(case)
    assert order is not None and len(messages) == 1
    assert messages[0]["case"]["fixed_on_spot"] is False


@pytest.mark.parametrize("module", [dispatch_agent, departments_agent])
def test_worker_refuses_to_start_without_this_years_holidays(
    settings: Settings, module: ModuleType
) -> None:
    # Only the 2023 table: the current year is not covered, so no deadline can be trusted.
    # The check runs before the agent touches the app, hence no Faust app here.
    old = settings.replace(holiday_files=("holidays_cn_2023.csv",))
    with pytest.raises(CalendarError, match=r"no holiday table covers 20\d\d"):
        module.register(None, old, Metrics())


def test_uncovered_lookups_have_a_declared_counter() -> None:
    metrics = Metrics()
    metrics.inc("citystream_calendar_uncovered_total", 3, stage="dispatch", year="2019")
    assert metrics.value("citystream_calendar_uncovered_total", stage="dispatch", year="2019") == 3
