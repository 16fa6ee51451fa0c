"""Role ``sink``: every stream into ClickHouse, batched, idempotent, holding offsets.

Each agent takes a chunk of messages (size- and time-bounded), turns them into table
columns, and writes them before it asks for the next chunk; Faust commits the chunk's
offsets only after that. While ClickHouse is down the agent waits out the sink's backoff
without consuming, so the offsets stay where they are and memory stays bounded; when the
server returns it catches up. Replays are harmless: every table de-duplicates by id.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from kernels.unitgrid import UnitGridIndex
from sinks.base import Sink, SinkBackpressure, StoreUnavailable
from sinks.clickhouse import ClickHouseSink
from sinks.records import (
    dead_letter_row,
    dispatch_row,
    patrol_session_row,
    patrol_visit_row,
    request_update_row,
    verify_task_row,
)
from sinks.streets import load_reference_tables
from streams.app.metrics import Metrics
from streams.cases.dispatch import DispatchOrder
from streams.cases.verification import VerifyTask
from streams.contracts.clock import is_tick
from streams.contracts.closures import is_closure_frame
from streams.contracts.columnar import decode_columns
from streams.contracts.deadletter import DeadLetter
from streams.contracts.fused import FusedBatch, decode_batch
from streams.contracts.requests import RequestUpdate
from streams.contracts.topics import (
    API_AUDIT,
    CASE_STATE,
    DEADLETTER,
    DISPATCH,
    ESCALATIONS,
    FUSED,
    LINKS,
    PATROL_SESSIONS,
    PATROL_VISITS,
    REQUEST_UPDATES,
    TOPIC_TABLES,
    TRANSITIONS,
    VERIFY_TASKS,
)
from streams.contracts.watermarks import is_watermark_frame
from streams.settings import Settings

__all__ = ["RowMaker", "register"]

log = logging.getLogger(__name__)


class RowMaker:
    """Pure part of the agent: Kafka message values to table rows or columns."""

    def __init__(self, settings: Settings) -> None:
        from streams.dedup.build import make_engine

        engine = make_engine(settings)
        self.router = engine.router
        self.grids = load_unit_grids(settings, engine.spec)

    def events(self, key: bytes, value: bytes) -> dict[str, Any] | None:
        if is_watermark_frame(value) or is_closure_frame(value):
            return None
        try:
            batch, tile = decode_batch(value), int(key)
        except ValueError as exc:
            # the dedup agent dead-letters the frame (one letter per frame, not one per reader)
            log.warning("events.fused frame not stored, it does not decode: %s", exc)
            return None
        ev = batch.events
        home = self.router.home_tiles(ev["lat"], ev["lon"]) == tile
        if not home.all():  # halo copies are stored once, by their home tile
            batch = batch.take(np.flatnonzero(home))
        return event_columns_with_grid(batch, self.grids)

    @staticmethod
    def links(value: bytes) -> dict[str, Any]:
        _, _, c = decode_columns(value, "links")
        return {
            "event_id": c["event_id"],
            "case_id": c["case_id"],
            "source": c["source"],
            "source_ref": c["source_ref"],
            "is_new": c["is_new"],
            "recurrence_of": c["recurrence_of"],
            "event_time": c["event_time_ms"],
            "flags": c["flags"],
        }

    @staticmethod
    def stage(value: bytes) -> list[dict[str, Any]]:
        t = orjson.loads(value)
        return [
            {
                "transition_id": t["transition_id"],
                "case_id": t["case_id"],
                "seq": t["seq"],
                "action": t["action"],
                "from_status": t["from_status"],
                "to_status": t["to_status"],
                "ts": t["ts_ms"],
                "actor": t["actor"],
                "department": t["department"],
                "update_id": t["update_id"],
                "note": t["note"],
                "deadline": t["deadline_ms"] or 0,
                "result": t.get("result", ""),  # callbacks; absent in older records
            }
        ]

    @staticmethod
    def dispatch(value: bytes) -> list[dict[str, Any]]:
        return [dispatch_row(DispatchOrder.from_dict(orjson.loads(value)))]

    @staticmethod
    def dead_letter(value: bytes, received_at_ms: int) -> list[dict[str, Any]]:
        return [dead_letter_row(DeadLetter.from_json(value), received_at_ms)]

    @staticmethod
    def case(key: bytes | None, value: bytes) -> list[dict[str, Any]]:
        return [] if is_tick(key) else [orjson.loads(value)]  # ticks: the escalation clock

    @staticmethod
    def escalation(value: bytes) -> list[dict[str, Any]]:
        return [orjson.loads(value)]  # the record has the table's columns (0010)

    @staticmethod
    def audit(value: bytes) -> list[dict[str, Any]]:
        return [orjson.loads(value)]  # the record has the table's columns (streams/api/audit.py)

    @staticmethod
    def verify_task(value: bytes) -> list[dict[str, Any]]:
        return [verify_task_row(VerifyTask.from_dict(orjson.loads(value)))]

    @staticmethod
    def request_update(value: bytes) -> list[dict[str, Any]]:
        return [request_update_row(RequestUpdate.from_json(value))]

    @staticmethod
    def patrol_session(value: bytes) -> list[dict[str, Any]]:
        return [patrol_session_row(orjson.loads(value))]

    @staticmethod
    def patrol_visit(value: bytes) -> list[dict[str, Any]]:
        return [patrol_visit_row(orjson.loads(value))]


@functools.cache
def load_unit_grids(settings: Settings, spec: Any) -> UnitGridIndex | None:
    """The district's unit-grid index, parsed once per worker (dispatch and sink share it)."""
    from streams.reference.geo import District

    district = District.load(settings.pipeline.district)
    path = district.unit_grids_path
    return UnitGridIndex.from_geojson(path, spec) if path is not None else None


def event_columns_with_grid(batch: FusedBatch, grids: UnitGridIndex | None) -> dict[str, Any]:
    from sinks.records import event_columns

    if grids is None or len(batch) == 0:
        codes = [""] * len(batch)
    else:
        found = grids.lookup(batch.events["lat"], batch.events["lon"])
        codes = [str(c) if c else "" for c in found.tolist()]
    return event_columns(batch, codes)


async def write_all(sink: Sink, metrics: Metrics, table: str) -> None:
    """Flush the sink, waiting out outages; returns once every row is stored."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            await loop.run_in_executor(None, sink.flush)
            return
        except (SinkBackpressure, StoreUnavailable) as exc:
            delay = max(0.2, getattr(exc, "retry_after_s", 0.0) or sink.retry_after_s())
            error = "unavailable" if isinstance(exc, StoreUnavailable) else "backpressure"
            metrics.inc("citystream_clickhouse_insert_failures_total", table=table, error=error)
            log.warning(
                "ClickHouse unavailable for %s, holding offsets; retry in %.1fs", table, delay
            )
            await asyncio.sleep(delay)


def _add_agent(
    app: Any,
    settings: Settings,
    metrics: Metrics,
    topic_name: str,
    table: str,
    convert: Callable[[Any], Any],
) -> None:
    topic = app.topic(
        settings.kafka.topic(topic_name), key_serializer="raw", value_serializer="raw"
    )
    sink = ClickHouseSink(settings)

    async def store(stream: Any) -> None:
        async for events in stream.take_events(
            settings.sink.batch_rows, within=settings.sink.batch_ms / 1000
        ):
            started = time.perf_counter()
            rows = 0
            for event in events:
                m = event.message
                data = convert(m)
                if data is None:
                    continue
                n = len(data) if isinstance(data, list) else len(next(iter(data.values())))
                if n:
                    await _add(sink, metrics, table, m, data)
                    rows += n
            await write_all(sink, metrics, table)
            metrics.inc("citystream_rows_stored_total", rows, table=table)
            metrics.observe(
                "citystream_batch_duration_seconds",
                time.perf_counter() - started,
                stage=f"sink-{table}",
            )

    app.agent(topic, name=f"sink-{table}")(store)


async def _add(sink: Sink, metrics: Metrics, table: str, m: Any, data: Any) -> None:
    while True:
        try:
            sink.add(table, m.partition, m.offset, data)
            return
        except SinkBackpressure:
            await write_all(sink, metrics, table)


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    maker = RowMaker(settings)
    converters: dict[str, Callable[[Any], Any]] = {
        FUSED: lambda m: maker.events(m.key or b"", m.value or b""),
        LINKS: lambda m: maker.links(m.value),
        TRANSITIONS: lambda m: maker.stage(m.value),
        DISPATCH: lambda m: maker.dispatch(m.value),
        DEADLETTER: lambda m: maker.dead_letter(m.value, round(m.timestamp * 1000)),
        CASE_STATE: lambda m: maker.case(m.key, m.value),
        VERIFY_TASKS: lambda m: maker.verify_task(m.value),
        ESCALATIONS: lambda m: maker.escalation(m.value),
        REQUEST_UPDATES: lambda m: maker.request_update(m.value),
        PATROL_SESSIONS: lambda m: maker.patrol_session(m.value),
        PATROL_VISITS: lambda m: maker.patrol_visit(m.value),
        API_AUDIT: lambda m: maker.audit(m.value),
    }
    if converters.keys() != TOPIC_TABLES.keys():  # a stored topic without a converter
        raise RuntimeError(f"sink converters {sorted(converters)} != {sorted(TOPIC_TABLES)}")
    for topic_name, convert in converters.items():
        _add_agent(app, settings, metrics, topic_name, TOPIC_TABLES[topic_name], convert)
    _add_street_loader(app, settings)


def _add_street_loader(app: Any, settings: Settings) -> None:
    """The district's street network into ``street_segments`` once the worker starts
    (sinks/streets.py: a no-op when the table already holds the file)."""

    async def load_streets() -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                added = await loop.run_in_executor(None, load_reference_tables, settings)
                log.info("reference tables loaded: rows written %s", added)
                return
            except StoreUnavailable as exc:
                log.warning("ClickHouse unavailable for the reference tables (%s); retrying", exc)
                await asyncio.sleep(1.0)  # the table is small: no backoff worth having

    app.task(load_streets)
