"""The offline run of the dedup core: raw records in, cases and links out, no Kafka.

It runs the very pieces the streaming app runs (the normalizer, the tile router with its
halo copies, the per-tile kernels, the canonical ``(arrival, event id)`` order), so a
replay of a feed gives the cases the live pipeline gives for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.contracts.columnar import rows
from streams.contracts.deadletter import DeadLetter
from streams.contracts.fused import FusedBatch
from streams.contracts.reasons import Reason
from streams.dedup.build import engine_dead_letters, make_engine
from streams.dedup.engine import DedupEngine, TileDedup
from streams.intake.normalize import Normalizer
from streams.settings import Settings

__all__ = ["RawInput", "ReplayResult", "replay"]

_NORMALIZE_CHUNK = 8192
_DEDUP_CHUNK = 65536


@dataclass(frozen=True)
class RawInput:
    """One raw record: its source, bytes and arrival time (None: use its event time)."""

    source: str
    value: bytes
    arrival_ms: int | None = None


@dataclass
class ReplayResult:
    links: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    records_in: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        reasons = Counter(d.reason.value for d in self.dead_letters)
        per_source = Counter(link["source"] for link in self.links)
        n_links = len(self.links)
        n_cases = len(self.cases)
        return {
            "records_in": dict(self.records_in),
            "records_total": sum(self.records_in.values()),
            "events": n_links,
            "events_by_source": {str(k): v for k, v in sorted(per_source.items())},
            "cases": n_cases,
            "duplicates_merged": n_links - n_cases,
            "duplicate_share": round((n_links - n_cases) / n_links, 4) if n_links else 0.0,
            "recurrences": sum(1 for c in self.cases if c["recurrence_of"]),
            "dead_letters": sum(reasons.values()),
            "dead_letters_by_reason": dict(sorted(reasons.items())),
        }


def _normalize_all(
    normalizer: Normalizer, records: Iterable[RawInput], result: ReplayResult
) -> FusedBatch:
    batches: list[FusedBatch] = []
    # records with and without an arrival time are normalized apart (see flush)
    pending: dict[tuple[str, bool], list[RawInput]] = {}

    def flush(key: tuple[str, bool]) -> None:
        chunk = pending.pop(key, [])
        if not chunk:
            return
        source, known = key
        out = normalizer.normalize(
            source,
            [r.value for r in chunk],
            ingest_ms=[int(r.arrival_ms or 0) for r in chunk] if known else None,
            # No arrival time in the input (a CSV export): a record arrived when it
            # happened, so it is judged against the export's own times, never today's.
            at_event_time=not known,
        )
        batches.append(out.batch)
        result.dead_letters.extend(out.dead_letters)

    for record in records:
        result.records_in[record.source] += 1
        key = (record.source, record.arrival_ms is not None)
        bucket = pending.setdefault(key, [])
        bucket.append(record)
        if len(bucket) >= _NORMALIZE_CHUNK:
            flush(key)
    for key in list(pending):
        flush(key)
    return FusedBatch.concat(batches) if batches else FusedBatch.empty()


def _canonical(batch: FusedBatch) -> FusedBatch:
    f = batch.events
    return batch.take(np.lexsort((f["event_id"], f["ingest_time_ms"])))


def _chunks(batch: FusedBatch, size: int) -> Iterator[FusedBatch]:
    for start in range(0, len(batch), size):
        yield batch.take(np.arange(start, min(start + size, len(batch))))


def _dedup_all(engine: DedupEngine, events: FusedBatch, result: ReplayResult) -> None:
    tiles: dict[int, TileDedup] = {}
    for chunk in _chunks(events, _DEDUP_CHUNK):
        for tile, part in engine.tile_batches(chunk):
            state = tiles.get(tile)
            if state is None:
                state = tiles[tile] = engine.new_tile(tile)
            out = engine.process(state, part)
            result.links.extend(rows(_as_lists(out.links)))
            result.cases.extend(rows(_as_lists(out.cases)))
            result.dead_letters += engine_dead_letters(
                out.duplicates, Reason.DUPLICATE_SOURCE_ID, "an already accepted record again"
            )


def _as_lists(columns: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else list(v)) for k, v in columns.items()}


def replay(
    records: Iterable[RawInput], settings: Settings, normalizer: Normalizer | None = None
) -> ReplayResult:
    """Normalize and deduplicate ``records``; links and cases sorted by canonical order."""
    normalizer = normalizer or Normalizer.from_settings(settings)
    engine = make_engine(settings)
    result = ReplayResult()
    events = _canonical(_normalize_all(normalizer, records, result))
    _dedup_all(engine, events, result)
    order = {eid: i for i, eid in enumerate(events.events["event_id"].tolist())}
    result.links.sort(key=lambda link: order[link["event_id"]])
    result.cases.sort(key=lambda case: order[case["case_id"]])
    return result
