"""The dispatch agent's pure part: a new case row to its case.updates and dispatch messages."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import orjson
import pytest
from app_cases import INSPECTOR, PATROL_CASE, SENSOR_CASE, case_rows
from faust.types import TP

from streams.app import departments_agent, dispatch_agent
from streams.app.dispatch_agent import Dispatcher
from streams.app.faust_internals import RawBatch
from streams.app.metrics import Metrics
from streams.cases.calendar import CalendarError
from streams.cases.transitions import Action, CaseUpdate
from streams.contracts.columnar import encode_columns
from streams.contracts.topics import CASES
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


class _Topic:
    """A topic whose sends are acknowledged only when the test says so."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name
        self.futures: list[asyncio.Future[None]] = []

    async def send(self, key: bytes, value: bytes, force: bool) -> asyncio.Future[None]:
        doc = orjson.loads(value)
        self.log.append(
            f"send {self.name} {doc['case_id'] if self.name == 'orders' else doc.get('kind')}"
        )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def _acknowledged_by_hand(
    dispatcher: Dispatcher,
) -> tuple[list[str], _Topic, _Topic, dispatch_agent._Dispatch]:
    """A dispatch handler whose two topics log their sends and wait for the test."""
    log: list[str] = []
    updates, orders = _Topic(log, "updates"), _Topic(log, "orders")
    return log, updates, orders, dispatch_agent._Dispatch(dispatcher, Metrics(), updates, orders)


def _cases_batch(cases: dict[int, dict[str, Any]]) -> RawBatch:
    names = list(next(iter(cases.values())))
    value = encode_columns("cases", {n: [c[n] for c in cases.values()] for n in names})
    return RawBatch(TP("cases", 0), 1, 7, [7], [0], [value], [b"1"])


def test_a_batch_of_cases_sends_its_orders_only_once_the_openings_are_acknowledged(
    dispatcher: Dispatcher, cases: dict[int, dict[str, Any]]
) -> None:
    log, updates, orders, handler = _acknowledged_by_hand(dispatcher)

    async def main() -> None:
        task = asyncio.create_task(handler.handle(_cases_batch(cases)))
        await asyncio.sleep(0.01)
        # the openings (and the on-the-spot closure) are out, no order yet
        assert log == ["send updates open", "send updates open", "send updates None"]
        for f in updates.futures:
            f.set_result(None)
        await asyncio.sleep(0.01)
        assert log[-1] == f"send orders {SENSOR_CASE}" and len(orders.futures) == 1
        assert not task.done(), "returned before its order was acknowledged"
        orders.futures[0].set_result(None)
        await asyncio.wait_for(task, 1.0)

    asyncio.run(main())


def test_a_failed_order_fails_the_batch(
    dispatcher: Dispatcher, cases: dict[int, dict[str, Any]]
) -> None:
    """The bulk task then leaves the batch unacknowledged and ends the worker."""
    _, updates, orders, handler = _acknowledged_by_hand(dispatcher)

    async def main() -> None:
        task = asyncio.create_task(handler.handle(_cases_batch(cases)))
        await asyncio.sleep(0.01)
        for f in updates.futures:
            f.set_result(None)
        await asyncio.sleep(0.01)
        orders.futures[0].set_exception(RuntimeError("broker said no"))
        with pytest.raises(RuntimeError, match="broker said no"):
            await asyncio.wait_for(task, 1.0)

    asyncio.run(main())


def test_cases_are_taken_in_bulk_not_by_a_faust_agent(tmp_path: Any) -> None:
    from streams.app.factory import create_app

    s = Settings(home=tmp_path).replace(app_id="dispatch-bulk-test")
    app = create_app(s, ["dispatch"])
    assert s.kafka.topic(CASES) in app.bulk_channels
    assert all(s.kafka.topic(CASES) not in str(a.channel) for a in app.agents.values())
