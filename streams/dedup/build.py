"""Building the dedup core for a worker or a replay: the engine from settings and reference
data, and the dead letters of events the engine refuses."""

from __future__ import annotations

import functools
from typing import Any

import orjson

from kernels.grid import GridSpec
from streams.contracts.deadletter import DeadLetter
from streams.contracts.fused import Source
from streams.contracts.reasons import Reason
from streams.dedup.engine import DedupEngine
from streams.reference.categories import CategoryTable
from streams.reference.geo import District
from streams.settings import Settings

__all__ = ["engine_dead_letters", "make_engine"]


@functools.cache
def make_engine(settings: Settings) -> DedupEngine:
    """The worker's dedup engine (grid, parameters, tile router); one per settings, so the
    roles of one worker share it instead of each loading the tables again. It holds no
    per-tile state: that lives in TileDedup objects."""
    table = CategoryTable.load(
        settings.pipeline.categories_file, settings.pipeline.category_code_digits
    )
    district = District.load(settings.pipeline.district)
    origin = district.origin
    return DedupEngine(
        settings, table, GridSpec(origin[0], origin[1], settings.pipeline.cell_size_m)
    )


def engine_dead_letters(batch: Any, reason: Reason, message: str) -> list[DeadLetter]:
    """Dead letters for events the dedup stage refuses; the original is the event's JSON."""
    out = []
    refs = batch.column("source_ref") if len(batch) else []
    for i in range(len(batch)):
        row = batch.events[i]
        source = Source(int(row["source"])).name.lower()
        event = {
            "event_id": int(row["event_id"]),
            "source_ref": refs[i],
            "event_time_ms": int(row["event_time_ms"]),
            "ingest_time_ms": int(row["ingest_time_ms"]),
        }
        out.append(DeadLetter(source, reason, message, orjson.dumps(event)))
    return out
