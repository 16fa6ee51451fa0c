"""Event ordering for the dedup stage: watermarks across raw partitions and a reorder buffer.

Why: the dedup kernels give results that depend on the order events are seen in. The
normalizers consume three raw topics at their own pace, so the order in which fused
events reach a dedup partition is an accident of scheduling. To make cases identical for
any number of partitions, workers, batch sizes and restarts, the dedup stage processes
events in one canonical order, ``(ingest_time_ms, event_id)``, where ``ingest_time_ms``
is the raw record's Kafka timestamp (its arrival at the centre, set by the producer).

Each normalizer tells every fused partition how far it has read each raw partition (a
watermark frame). An event is released to the kernels once every raw partition is past
its arrival time, or has declared itself idle (caught up, nothing new for a while).
Events arriving behind the watermark (an idle source waking up) are released at once.

Memory stays bounded by aligning the sources (:func:`sources_ahead`): while the buffers
hold too many events, the raw partitions ahead of the watermark are paused and only those
it waits for are read, until it has caught up; nothing is dropped, the paused records wait
on the broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streams.contracts.closures import Closure
from streams.contracts.fused import FusedBatch
from streams.contracts.watermarks import WatermarkFrame

__all__ = [
    "ReorderBuffer",
    "WatermarkTracker",
    "sources_ahead",
]

NEVER = np.iinfo(np.int64).min
FOREVER = np.iinfo(np.int64).max


@dataclass
class WatermarkTracker:
    """The combined watermark of a set of expected raw partitions."""

    expected: frozenset[tuple[str, int]]
    marks: dict[tuple[str, int], int] = field(default_factory=dict)
    idle: set[tuple[str, int]] = field(default_factory=set)

    def update(self, frame: WatermarkFrame) -> None:
        key = (frame.topic, frame.partition)
        if key not in self.expected:
            raise ValueError(f"watermark from an unexpected raw partition {key}")
        self.marks[key] = max(self.marks.get(key, NEVER), frame.watermark_ms)
        if frame.idle:
            self.idle.add(key)
        else:
            self.idle.discard(key)

    def watermark(self) -> int:
        """Events with arrival <= this may be released; NEVER until every source reported."""
        active = [k for k in self.expected if k not in self.idle]
        if not active:
            return FOREVER if self.expected <= set(self.marks) else NEVER
        return min(self.marks.get(k, NEVER) for k in active)

    def to_state(self) -> dict[str, object]:
        return {
            "marks": [[t, p, m] for (t, p), m in sorted(self.marks.items())],
            "idle": sorted([t, p] for t, p in self.idle),
        }

    def restore(self, state: dict[str, object]) -> None:
        marks = state.get("marks", [])
        idle = state.get("idle", [])
        assert isinstance(marks, list) and isinstance(idle, list)
        self.marks = {(str(t), int(p)): int(m) for t, p, m in marks if (t, p) in self.expected}
        self.idle = {(str(t), int(p)) for t, p in idle if (t, p) in self.expected}


def sources_ahead(trackers: list[WatermarkTracker]) -> set[tuple[str, int]]:
    """The raw partitions no tracker's watermark waits for: pausing them cannot stall it.

    A tracker waits for the raw partitions at its watermark (the active ones with the
    lowest mark, or without a mark yet); every other raw partition only adds events to the
    buffers until those move. Idle partitions are left alone (they have nothing to read).
    """
    waited_for: set[tuple[str, int]] = set()
    expected: set[tuple[str, int]] = set()
    for tracker in trackers:
        expected |= tracker.expected
        mark = tracker.watermark()
        waited_for |= {
            k
            for k in tracker.expected
            if k not in tracker.idle and tracker.marks.get(k, NEVER) <= mark
        }
    return expected - waited_for - {k for t in trackers for k in t.idle}


class ReorderBuffer:
    """Pending fused events, released in canonical ``(ingest_time_ms, event_id)`` order.

    Batches are kept as they came, with their arrival bounds, so a release touches only
    the batches that have due events.

    Each raw record is absorbed once. A tile receives the events of one raw partition in
    that partition's offset order (the normalizer reads it in order and sends each
    record's events for a tile in one message), so the highest raw offset absorbed per
    (source, raw partition) tells a redelivered record from a new one exactly, however
    long ago it came; a crash of the normalizer or of dedup redelivers whole records. The
    map is saved with the tile. Events of unknown origin (``origin_seq`` 0: file replays)
    fall back to the engine's recent ids, as does a redelivered event within a batch.

    Closures (streams/contracts/closures.py) wait here too, until the watermark reaches
    their time: a closure takes its place among the events at ``closed_ms`` (after the
    events that arrived by then), wherever its frame came in the input.
    """

    def __init__(self, absorbed: dict[tuple[int, int], int] | None = None) -> None:
        self._pending: list[tuple[FusedBatch, int, int]] = []  # batch, min and max arrival
        # (source, raw partition) -> the highest origin_seq absorbed
        self.absorbed: dict[tuple[int, int], int] = absorbed or {}
        # case id -> its pending closure (a redelivered frame changes nothing)
        self.closures: dict[int, Closure] = {}
        # the latest arrival released since this worker took the tile (for the late-closure
        # metric only: a closure before it may come after events it would have split off)
        self.released_to = NEVER

    def add_closures(self, closures: list[Closure]) -> int:
        """Keep closures until they are due; returns how many were new."""
        added = 0
        for closure in closures:
            known = self.closures.get(closure.case_id)
            if known is None or closure < known:
                added += known is None
                self.closures[closure.case_id] = closure
        return added

    def due_closures(self, watermark_ms: int) -> list[Closure]:
        """Remove and return, in (time, case id) order, the closures at or before the mark."""
        if not self.closures:  # nearly always: called for every tile at every release
            return []
        due = sorted(c for c in self.closures.values() if c.closed_ms <= watermark_ms)
        for closure in due:
            del self.closures[closure.case_id]
        return due

    def __len__(self) -> int:
        return sum(len(b) for b, _, _ in self._pending)

    def add(self, batch: FusedBatch) -> int:
        """Buffer a batch without the raw records absorbed before; returns the number of
        events added."""
        batch = self._unabsorbed(batch)
        if len(batch) == 0:
            return 0
        arrivals = batch.events["ingest_time_ms"]
        self._pending.append((batch, int(arrivals.min()), int(arrivals.max())))
        return len(batch)

    def _unabsorbed(self, batch: FusedBatch) -> FusedBatch:
        if len(batch) == 0:
            return batch
        seq = batch.events["origin_seq"]
        known = seq > 0
        if not known.any():
            return batch
        keys = (batch.events["source"].astype(np.int64) << 16) | batch.events["origin_partition"]
        stale = np.zeros(len(batch), dtype=bool)
        for key in np.unique(keys[known]).tolist():
            source, partition = key >> 16, key & 0xFFFF
            mine = known & (keys == key)
            before = self.absorbed.get((source, partition), 0)
            stale |= mine & (seq <= before)
            self.absorbed[(source, partition)] = max(before, int(seq[mine].max()))
        return batch if not stale.any() else batch.take(np.flatnonzero(~stale))

    def release(self, watermark_ms: int) -> FusedBatch:
        """Remove and return, sorted canonically, every event with arrival <= watermark."""
        due: list[FusedBatch] = []
        kept: list[tuple[FusedBatch, int, int]] = []
        for batch, low, high in self._pending:
            if low > watermark_ms:
                kept.append((batch, low, high))
            elif high <= watermark_ms:
                due.append(batch)
            else:
                arrivals = batch.events["ingest_time_ms"]
                now = arrivals <= watermark_ms
                due.append(batch.take(np.flatnonzero(now)))
                later = batch.take(np.flatnonzero(~now))
                rest = later.events["ingest_time_ms"]
                kept.append((later, int(rest.min()), int(rest.max())))
        self._pending = kept
        if not due:
            return FusedBatch.empty()
        merged = due[0] if len(due) == 1 else FusedBatch.concat(due)
        ids, arrivals = merged.events["event_id"], merged.events["ingest_time_ms"]
        self.released_to = max(self.released_to, int(arrivals.max()))
        order = np.lexsort((ids, arrivals))
        ids, arrivals = ids[order], arrivals[order]
        repeat = np.zeros(len(order), bool)
        repeat[1:] = (ids[1:] == ids[:-1]) & (arrivals[1:] == arrivals[:-1])
        return merged.take(order[~repeat])

    def snapshot(self) -> FusedBatch:
        return FusedBatch.concat([b for b, _, _ in self._pending])

    @classmethod
    def restore(
        cls,
        batch: FusedBatch,
        absorbed: dict[tuple[int, int], int] | None = None,
        closures: list[Closure] | None = None,
    ) -> ReorderBuffer:
        buf = cls()
        buf.add(batch)  # pending events are absorbed already: their maxima come next
        buf.absorbed = dict(absorbed or {})
        buf.add_closures(closures or [])
        return buf
