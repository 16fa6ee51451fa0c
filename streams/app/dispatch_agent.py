"""Role ``dispatch``: each new case to its department with a deadline (派遣).

A patrol case fixed on the spot is not dispatched: the inspector's report already closed
it, so the agent records that closure instead. Both go to ``case.updates`` keyed by case
id, where the lifecycle agent keeps each case's state.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from streams.app.faust_internals import RawBatch, bulk_channel, bulk_task
from streams.app.metrics import Metrics
from streams.cases.calendar import DeadlineUnit, WorkCalendar
from streams.cases.department_sim import simulate_on_spot
from streams.cases.dispatch import CategoryRule, DispatchLimits, make_dispatch
from streams.contracts.columnar import decode_columns, rows
from streams.contracts.fused import FLAG_FIXED_ON_SPOT, Source
from streams.contracts.topics import CASES, DISPATCH, UPDATES
from streams.reference.categories import CategoryTable
from streams.settings import Settings

__all__ = ["CASES_BATCH_MESSAGES", "Dispatcher", "register"]


class Dispatcher:
    """Pure part of the agent: a case row to the messages it causes."""

    def __init__(self, settings: Settings) -> None:
        self.table = CategoryTable.load(
            settings.pipeline.categories_file, settings.pipeline.category_code_digits
        )
        self.calendar = WorkCalendar.from_settings(settings)
        self.limits = DispatchLimits.from_settings(settings)
        from streams.app.sink_agent import load_unit_grids
        from streams.dedup.build import make_engine

        self.grids = load_unit_grids(settings, make_engine(settings).spec)
        self.rules = {
            c.id: CategoryRule(
                c.key,
                c.department,
                float(c.deadline_value),
                DeadlineUnit(c.deadline_unit),
                c.urgency == "urgent",
            )
            for c in self.table.by_id.values()
        }

    def grid_code(self, lat: float, lon: float) -> str:
        if self.grids is None:
            return ""
        code = int(self.grids.lookup(np.array([lat]), np.array([lon]))[0])
        return str(code) if code else ""

    def messages(self, case: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """``(case.updates messages, dispatch order or None)`` for one new case."""
        rule = self.rules[int(case["category"])]
        case_id = int(case["case_id"])
        on_spot = bool(int(case["flags"]) & FLAG_FIXED_ON_SPOT) and (
            int(case["source"]) == Source.PATROL
        )
        opened = {
            "case_id": case_id,
            "opened_at_ms": int(case["opened_at_ms"]),
            "ingest_time_ms": int(case["ingest_time_ms"]),  # when the opening report came
            "category_key": rule.key,
            "department": rule.department,
            "fixed_on_spot": on_spot,
            "reporter": case.get("reporter", ""),
            "source": int(case["source"]),  # verification goes to a patrol's own inspector
            "lat": float(case["lat"]),
            "lon": float(case["lon"]),
            "recurrence_of": int(case["recurrence_of"]),
            "grid_code": self.grid_code(float(case["lat"]), float(case["lon"])),
        }
        if on_spot:
            # The inspector's own report closes it (close_on_spot), no department involved.
            closing = simulate_on_spot(
                case_id,
                int(case["opened_at_ms"]),
                department=rule.department,
                inspector=str(case.get("reporter") or "inspector"),
            )
            return [
                {"kind": "open", "case": opened, "order": None},
                *(u.to_dict() for u in closing),
            ], None
        order = make_dispatch(
            case_id,
            int(case["opened_at_ms"]),
            rule,
            self.calendar,
            max(int(case["ingest_time_ms"]), int(case["opened_at_ms"])),
            limits=self.limits,
        ).to_dict()
        return [{"kind": "open", "case": opened, "order": order}], order


# ``cases`` messages per batch at most: a batch is what one fetch brought for the partition
# (dedup sends one message per tile and chunk)
CASES_BATCH_MESSAGES = 512


@dataclass(frozen=True)
class _Dispatch:
    """A batch of ``cases`` messages to case.updates and dispatch orders, acknowledged."""

    dispatcher: Dispatcher
    metrics: Metrics
    updates: Any
    orders: Any

    async def handle(self, batch: RawBatch) -> None:
        started = time.perf_counter()
        opened: list[Any] = []
        to_send: list[dict[str, Any]] = []
        for value in batch.values:
            for case in rows(decode_columns(value, "cases")[2]):
                messages, order = self.dispatcher.messages(case)
                key = str(case["case_id"]).encode()
                for message in messages:
                    sent = await self.updates.send(key=key, value=orjson.dumps(message), force=True)
                    opened.append(sent)
                if order is not None:
                    to_send.append(order)
        # A department answers an order on case.updates: the case's opening must be there
        # first, or lifecycle meets an update for a case it does not know. Batches of
        # different topics are not delivered in the order they were sent.
        await asyncio.gather(*opened)
        orders = []
        for order in to_send:
            department = order["department"]
            orders.append(
                await self.orders.send(
                    key=department.encode(), value=orjson.dumps(order), force=True
                )
            )
            self.metrics.inc("citystream_dispatches_total", department=department)
        # on the broker before the batch is acknowledged (and its offsets may commit): a
        # crash after the commit would otherwise lose orders whose case is already open; a
        # failed send raises here, and the worker ends before anything commits past it
        await asyncio.gather(*orders)
        for year, lookups in self.dispatcher.calendar.take_uncovered().items():
            self.metrics.inc(
                "citystream_calendar_uncovered_total", lookups, stage="dispatch", year=str(year)
            )
        self.metrics.observe(
            "citystream_batch_duration_seconds", time.perf_counter() - started, stage="dispatch"
        )


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    dispatcher = Dispatcher(settings)
    dispatcher.calendar.require_coverage(int(time.time() * 1000))
    raw_topic = {"key_serializer": "raw", "value_serializer": "raw"}
    updates = app.topic(settings.kafka.topic(UPDATES), **raw_topic)
    orders = app.topic(settings.kafka.topic(DISPATCH), **raw_topic)
    # ``cases`` in bulk (streams/app/faust_internals/bulk.py), no other role reads it: a
    # batch is what is fetched, handed over at once. A Faust ``take`` waited up to
    # CITYSTREAM_BATCH_MAX_MS for more on every batch (dedup sends a few messages per
    # chunk, never a full batch), which every case's dispatch paid.
    channel = bulk_channel(app, settings.kafka.topic(CASES), CASES_BATCH_MESSAGES)
    bulk_task(app, channel, "dispatch", _Dispatch(dispatcher, metrics, updates, orders).handle)
