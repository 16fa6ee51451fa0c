"""Role ``departments``: a simulated department desk answering every dispatch order.

It stands in for the four departments' staff in demos and load tests: it signs for each
order, reports handling (some late, some sent back for rework) and lets the centre
verify, all on the case's own (simulated) clock. Deterministic per case id and seed.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from streams.app.metrics import Metrics
from streams.cases.calendar import WorkCalendar
from streams.cases.department_sim import simulate_department
from streams.cases.dispatch import DispatchOrder
from streams.contracts.topics import DISPATCH, UPDATES
from streams.settings import Settings

__all__ = ["register"]


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    calendar = WorkCalendar.from_settings(settings)
    calendar.require_coverage(int(time.time() * 1000))
    orders = app.topic(settings.kafka.topic(DISPATCH), key_serializer="raw", value_serializer="raw")
    updates = app.topic(settings.kafka.topic(UPDATES), key_serializer="raw", value_serializer="raw")

    async def departments(stream: Any) -> None:
        async for value in stream:
            order = DispatchOrder.from_dict(orjson.loads(value))
            key = str(order.case_id).encode()
            for update in simulate_department(
                order, calendar, seed=settings.worker.department_seed
            ):
                await updates.send(key=key, value=orjson.dumps(update.to_dict()), force=True)
            for year, lookups in calendar.take_uncovered().items():
                metrics.inc(
                    "citystream_calendar_uncovered_total",
                    lookups,
                    stage="departments",
                    year=str(year),
                )

    app.agent(orders, name="departments")(departments)
