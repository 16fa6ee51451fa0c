"""Role ``dispatch``: each new case to its department with a deadline (派遣).

A patrol case fixed on the spot is not dispatched: the inspector's report already closed
it, so the agent records that closure instead. Both go to ``case.updates`` keyed by case
id, where the lifecycle agent keeps each case's state.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from streams.app.columnar import decode_columns, rows
from streams.app.metrics import Metrics
from streams.app.topics import CASES, DISPATCH, UPDATES
from streams.cases.calendar import DeadlineUnit, WorkCalendar
from streams.cases.dispatch import CategoryRule, DispatchLimits, make_dispatch
from streams.intake.categories import CategoryTable
from streams.intake.fused import FLAG_FIXED_ON_SPOT, Source
from streams.settings import Settings

__all__ = ["Dispatcher", "register"]


class Dispatcher:
    """Pure part of the agent: a case row to the messages it causes."""

    def __init__(self, settings: Settings) -> None:
        self.table = CategoryTable.load(settings.categories_file, settings.category_code_digits)
        self.calendar = WorkCalendar.from_settings(settings)
        self.limits = DispatchLimits.from_settings(settings)
        self.rules = {
            c.id: CategoryRule(c.key, c.department, float(c.deadline_value),
                               DeadlineUnit(c.deadline_unit), c.urgency == "urgent")
            for c in self.table.by_id.values()
        }

    def messages(self, case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """``(case.updates message, dispatch order or None)`` for one new case."""
        rule = self.rules[int(case["category"])]
        case_id = int(case["case_id"])
        on_spot = bool(int(case["flags"]) & FLAG_FIXED_ON_SPOT) and (
            int(case["source"]) == Source.PATROL
        )
        opened = {
            "case_id": case_id,
            "opened_at_ms": int(case["opened_at_ms"]),
            "category_key": rule.key,
            "department": rule.department,
            "fixed_on_spot": on_spot,
            "reporter": case.get("reporter", ""),
        }
        if on_spot:
            return {"kind": "open", "case": opened, "order": None}, None
        order = make_dispatch(case_id, int(case["opened_at_ms"]), rule, self.calendar,
                              max(int(case["ingest_time_ms"]), int(case["opened_at_ms"])),
                              limits=self.limits).to_dict()
        return {"kind": "open", "case": opened, "order": order}, order


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    dispatcher = Dispatcher(settings)
    cases = app.topic(settings.topic(CASES), key_serializer="raw", value_serializer="raw")
    updates = app.topic(settings.topic(UPDATES), key_serializer="raw", value_serializer="raw")
    orders = app.topic(settings.topic(DISPATCH), key_serializer="raw", value_serializer="raw")

    async def dispatch(stream: Any) -> None:
        async for value in stream:
            started = time.perf_counter()
            _, _, columns = decode_columns(value, "cases")
            for case in rows(columns):
                update, order = dispatcher.messages(case)
                key = str(update["case"]["case_id"]).encode()
                await updates.send(key=key, value=orjson.dumps(update), force=True)
                if order is not None:
                    await orders.send(key=order["department"].encode(),
                                      value=orjson.dumps(order), force=True)
                    metrics.inc("citystream_dispatches_total", department=order["department"])
            metrics.observe("citystream_batch_seconds", time.perf_counter() - started,
                            stage="dispatch")

    app.agent(cases, name="dispatch")(dispatch)
