"""Role ``departments``: simulated department desks answering dispatch orders and reworks.

It stands in for the four departments' staff in demos and load tests: it signs for each
order and reports handling (some late, some held), all on the case's own (simulated)
clock; when a supervisor fails a verification (a ``failed`` record on ``verify.tasks``) it
does the work again, and so it does for a case reopened after an unsatisfied callback (a
``reopen`` on ``case.transitions``). Deterministic per case id and seed.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from streams.app.metrics import Metrics
from streams.cases.calendar import WorkCalendar
from streams.cases.department_sim import simulate_department, simulate_reopen, simulate_rework
from streams.cases.dispatch import CategoryRule, DispatchOrder, rules_by_key
from streams.cases.transitions import CaseUpdate
from streams.cases.verification import TaskStatus, VerifyTask
from streams.contracts.topics import DISPATCH, TRANSITIONS, UPDATES, VERIFY_TASKS
from streams.reference.categories import CategoryTable
from streams.settings import Settings

__all__ = ["register"]


def _rules(settings: Settings) -> dict[str, CategoryRule]:
    table = CategoryTable.load(
        settings.pipeline.categories_file, settings.pipeline.category_code_digits
    )
    return rules_by_key(table)


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    calendar = WorkCalendar.from_settings(settings)
    calendar.require_coverage(int(time.time() * 1000))
    rules = _rules(settings)
    desks = tuple(sorted({r.department for r in rules.values()}))
    seed = settings.worker.department_seed
    raw_topic = {"key_serializer": "raw", "value_serializer": "raw"}
    orders = app.topic(settings.kafka.topic(DISPATCH), **raw_topic)
    tasks = app.topic(settings.kafka.topic(VERIFY_TASKS), **raw_topic)
    updates = app.topic(settings.kafka.topic(UPDATES), **raw_topic)
    transitions = app.topic(settings.kafka.topic(TRANSITIONS), **raw_topic)

    async def send(case_id: int, answers: list[CaseUpdate]) -> None:
        for update in answers:
            value = orjson.dumps(update.to_dict())
            await updates.send(key=str(case_id).encode(), value=value, force=True)
        for year, lookups in calendar.take_uncovered().items():
            metrics.inc(
                "citystream_calendar_uncovered_total", lookups, stage="departments", year=str(year)
            )

    async def departments(stream: Any) -> None:
        async for value in stream:
            order = DispatchOrder.from_dict(orjson.loads(value))
            answers = simulate_department(order, calendar, seed=seed, departments=desks)
            await send(order.case_id, answers)

    async def reworks(stream: Any) -> None:
        async for value in stream:
            task = VerifyTask.from_dict(orjson.loads(value))
            if task.status is not TaskStatus.FAILED:
                continue
            answers = simulate_rework(task, rules[task.category_key], calendar, seed=seed)
            await send(task.case_id, answers)

    async def reopenings(stream: Any) -> None:
        async for value in stream:
            step = orjson.loads(value)
            if step["action"] != "reopen":
                continue
            case_id = int(step["case_id"])
            answers = simulate_reopen(
                case_id, step["department"], int(step["ts_ms"]), int(step["seq"]), calendar,
                seed=seed,
            )  # fmt: skip
            await send(case_id, answers)

    app.agent(orders, name="departments")(departments)
    app.agent(transitions, name="department-reopenings")(reopenings)
    app.agent(tasks, name="department-reworks")(reworks)
