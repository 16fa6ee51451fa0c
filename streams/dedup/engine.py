"""The dedup core as the streaming shell and the offline replay both run it.

One :class:`TileDedup` per coarse tile holds a kernel state and the ids it has processed
recently (so a batch redelivered after a crash changes nothing). :class:`DedupEngine`
turns a tile's released, canonically ordered events (home events and halo copies) into
the outputs that tile owns: the links of its home events and the cases its home events
opened. Everything is arrays; there is no Python loop per event. Every valid event is
linked: one further behind the tile's newest event than the state reaches opens a case of
its own, flagged ``FLAG_BEYOND_STATE`` (docs/lateness.md).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from kernels.dedup import REJECTED, close_cases, dedup_batch, evict
from kernels.grid import GridSpec
from kernels.params import DedupParams
from kernels.state import DedupState, restore, snapshot
from streams.contracts.closures import Closure
from streams.contracts.fused import (
    FLAG_BEYOND_STATE,
    FLAG_REQUEST_UPDATE,
    FusedBatch,
    StringColumn,
)
from streams.dedup.routing import TileRouter
from streams.reference.categories import CategoryTable
from streams.settings import Settings

__all__ = [
    "DedupEngine",
    "RecentIds",
    "TileDedup",
    "TileOutput",
    "build_params",
    "category_halos",
]

_TILE_MAGIC = b"CSTILE01"
_TILE_HEADER = struct.Struct("<8sqQQ")  # magic, tile, n recent ids, kernel snapshot bytes
# a column of links or cases: numbers, names (department), or strings of the events
# (gathered once, when the column is serialised)
Column = npt.NDArray[Any] | list[str] | StringColumn

_EVICT_EVERY = 16  # batches between evictions (results never depend on it)


def build_params(table: CategoryTable, settings: Settings) -> DedupParams:
    """Kernel parameters from the category table and the settings."""
    kp = table.kernel_params()
    radius = np.asarray(kp.radius_m, dtype=np.float64)
    mergeable = radius > 0
    # A category that never merges is compatible with nothing, itself included.
    compat = np.asarray(kp.compat, dtype=bool) & mergeable[:, None] & mergeable[None, :]
    return DedupParams.build(
        len(radius),
        radius_m=radius,
        window_s=np.asarray(kp.window_s, dtype=np.float64),
        compat=compat,
        recurrence_window_s=settings.pipeline.recurrence_window_s,
        allowed_lateness_s=settings.pipeline.allowed_lateness_s,
        max_open_age_s=_open_ages(kp.max_open_age_s, settings),
    )


def _open_ages(table_s: npt.NDArray[np.int64], settings: Settings) -> npt.NDArray[np.int64]:
    """Per category, how long an open case keeps matching after its last report: the
    table's value, else the setting's; 0 where no closure reaches dedup, since an open
    age without closures would keep every fixed problem's case open to later reports."""
    if not settings.pipeline.dedup_closures:
        return np.zeros_like(table_s)
    return np.where(table_s >= 0, table_s, settings.pipeline.max_open_age_s)


class RecentIds:
    """Event ids a tile processed within the redelivery horizon, with their arrival times.

    Sorted arrays rather than a dict: a batch is checked with one ``searchsorted`` and
    remembered with one merge, so the cost per event is a few vectorised operations.
    """

    __slots__ = ("ids", "times")

    def __init__(
        self, ids: npt.NDArray[np.uint64] | None = None, times: npt.NDArray[np.int64] | None = None
    ) -> None:
        self.ids = np.zeros(0, np.uint64) if ids is None else np.asarray(ids, np.uint64)
        self.times = np.zeros(0, np.int64) if times is None else np.asarray(times, np.int64)
        if len(self.ids) != len(self.times):
            raise ValueError("recent ids and times differ in length")
        if len(self.ids) > 1 and not bool(np.all(self.ids[1:] > self.ids[:-1])):
            raise ValueError("recent ids must be strictly increasing")

    def __len__(self) -> int:
        return len(self.ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecentIds):
            return NotImplemented
        return np.array_equal(self.ids, other.ids) and np.array_equal(self.times, other.times)

    __hash__ = None  # type: ignore[assignment]

    def as_dict(self) -> dict[int, int]:
        return dict(zip(self.ids.tolist(), self.times.tolist(), strict=True))

    def lookup(
        self, ids: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
        """``(known, arrival)`` per id; ``arrival`` is meaningful where ``known``."""
        if len(self.ids) == 0:
            return np.zeros(len(ids), bool), np.zeros(len(ids), np.int64)
        pos = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return self.ids[pos] == ids, self.times[pos]

    def remember(
        self, ids: npt.NDArray[np.uint64], times: npt.NDArray[np.int64], oldest: int
    ) -> None:
        """Add ids not known yet (callers pass fresh ids) and forget those before ``oldest``."""
        order = np.argsort(ids)
        new_ids = np.asarray(ids, np.uint64)[order]
        new_times = np.asarray(times, np.int64)[order]
        keep = self.times >= oldest
        old_ids, old_times = self.ids[keep], self.times[keep]
        at = np.searchsorted(old_ids, new_ids)  # a merge of two sorted runs, O(n + m)
        fresh = new_times >= oldest
        self.ids = np.insert(old_ids, at[fresh], new_ids[fresh])
        self.times = np.insert(old_times, at[fresh], new_times[fresh])


def category_halos(params: DedupParams) -> npt.NDArray[np.float64]:
    """Per category, how far from a tile an event of it is copied into that tile's halo.

    A neighbour tile needs the event if the event can anchor a case one of the tile's
    events joins (within the event's own radius) or keep such a case alive (the case lies
    within its radius of the tile, the event within that radius of the case): twice the
    largest radius among the categories it merges with. A category that merges with
    nothing needs no halo. Most categories have radii of tens of metres, so most events
    go to their home tile alone.
    """
    joinable = params.compat.any(axis=0)  # some category's events join its cases
    own = np.where(joinable, params.radius_m, 0.0)
    return np.maximum(own, 2.0 * params.search_radius_m)


@dataclass
class TileDedup:
    """Kernel state of one tile plus the ids it processed within the redelivery horizon."""

    tile: int
    state: DedupState
    recent: RecentIds = field(default_factory=RecentIds)
    batches: int = 0

    def to_bytes(self) -> bytes:
        kernel = snapshot(self.state)
        ids, times = self.recent.ids, self.recent.times
        head = _TILE_HEADER.pack(_TILE_MAGIC, self.tile, len(ids), len(kernel))
        return head + kernel + ids.astype("<u8").tobytes() + times.astype("<i8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> TileDedup:
        if len(data) < _TILE_HEADER.size or data[:8] != _TILE_MAGIC:
            raise ValueError("not a tile dedup snapshot")
        _, tile, n_ids, n_kernel = _TILE_HEADER.unpack_from(data)
        off = _TILE_HEADER.size
        state = restore(data[off : off + n_kernel])
        off += n_kernel
        ids = np.frombuffer(data, "<u8", n_ids, off).astype(np.uint64)
        times = np.frombuffer(data, "<i8", n_ids, off + 8 * n_ids).astype(np.int64)
        order = np.argsort(ids)  # snapshots before 2026-11 kept them in arrival order
        return cls(tile, state, RecentIds(ids[order], times[order]))


@dataclass(frozen=True)
class TileOutput:
    """What one tile reports for one released batch (columns of equal length each)."""

    links: dict[str, Column]
    cases: dict[str, Column]
    duplicates: FusedBatch  # the source sent an accepted record again: dead-letter them
    beyond_state: int = 0  # home events beyond the state's reach: linked to cases of their own
    closed: int = 0  # closures that closed a case held in this tile's state

    @property
    def n_links(self) -> int:
        return len(self.links["event_id"])

    @classmethod
    def concat(cls, parts: list[TileOutput]) -> TileOutput:
        if len(parts) == 1:
            return parts[0]
        return cls(
            links=_concat_columns([p.links for p in parts]),
            cases=_concat_columns([p.cases for p in parts]),
            duplicates=FusedBatch.concat([p.duplicates for p in parts]),
            beyond_state=sum(p.beyond_state for p in parts),
            closed=sum(p.closed for p in parts),
        )


def _string_column(column: Column) -> StringColumn:
    if not isinstance(column, StringColumn):
        raise TypeError(f"a string column of links or cases is a {type(column).__name__}")
    return column


def _concat_columns(
    parts: list[dict[str, Column]],
) -> dict[str, Column]:
    out: dict[str, Column] = {}
    for name, first in parts[0].items():
        if isinstance(first, StringColumn):
            out[name] = StringColumn.join([_string_column(p[name]) for p in parts])
        elif isinstance(first, list):
            out[name] = [v for p in parts for v in p[name]]
        else:
            out[name] = np.concatenate([np.asarray(p[name]) for p in parts])
    return out


# the fixed columns of the events that links and cases carry
_LINK_FIXED = ("event_id", "source", "category", "lat", "lon", "event_time_ms", "ingest_time_ms")
_CASE_FIXED = ("event_id", "category", "lat", "lon", "event_time_ms", "ingest_time_ms", "source")


def _take_columns(
    events: npt.NDArray[Any], idx: npt.NDArray[np.intp], names: tuple[str, ...]
) -> dict[str, npt.NDArray[Any]]:
    """``names`` of the rows at ``idx``, each gathered straight into a contiguous array (the
    JSON encoder needs them so): no copy of whole 64-byte rows first."""
    return {name: events[name][idx] for name in names}


class DedupEngine:
    """Runs the kernels per tile; knows which tile owns which event and case."""

    def __init__(self, settings: Settings, table: CategoryTable, spec: GridSpec) -> None:
        self.settings = settings
        self.table = table
        self.spec = spec
        self.params = build_params(table, settings)
        self.halo_m = category_halos(self.params)
        widest = float(self.halo_m.max()) if len(self.halo_m) else 0.0
        self.router = TileRouter(spec, settings.pipeline.tile_size_m, widest)
        self.redelivery_horizon_ms = settings.pipeline.redelivery_horizon_s * 1000
        self.department = np.array(
            [
                table.by_id[i].department if i in table.by_id else ""
                for i in range(len(self.params.radius_m))
            ],
            dtype=object,
        )

    def tile_batches(self, batch: FusedBatch) -> list[tuple[int, FusedBatch]]:
        """``batch`` split into one batch per tile: home events and halo copies."""
        return self.router.split(batch, self.halo_m[batch.events["category"]])

    def case_tiles(self, lat: float, lon: float, category: int) -> list[int]:
        """The tiles whose state may hold the case opened at (lat, lon): those its opening
        event went to (its home tile and the halos it falls in), where a closure must go."""
        halo = self.halo_m[np.array([category], dtype=np.int64)]
        _, tiles = self.router.route(np.array([lat]), np.array([lon]), halo)
        return sorted(set(tiles.tolist()))

    def new_tile(self, tile: int) -> TileDedup:
        return TileDedup(tile, DedupState(self.spec))

    def process(
        self, tile: TileDedup, batch: FusedBatch, closures: list[Closure] | None = None
    ) -> TileOutput:
        """Deduplicate a canonically ordered batch of the tile's home and halo events,
        closing the cases of ``closures`` (sorted) in their places among the events: a
        closure at ``closed_ms`` comes after every event that arrived by then."""
        if not closures:
            return self._process_events(tile, batch)
        arrivals = batch.events["ingest_time_ms"]
        times = np.array([c.closed_ms for c in closures], dtype=np.int64)
        cuts = np.searchsorted(arrivals, times, side="right")
        parts: list[TileOutput] = []
        closed = start = 0
        for cut in np.unique(cuts).tolist():
            if cut > start:
                parts.append(self._process_events(tile, batch.take(np.arange(start, cut))))
                start = cut
            now = np.flatnonzero(cuts == cut)
            ids = np.array([closures[i].case_id for i in now], dtype=np.uint64)
            closed += int(close_cases(tile.state, self.params, ids, times[now]).sum())
        if start < len(batch) or not parts:
            parts.append(self._process_events(tile, batch.take(np.arange(start, len(batch)))))
        return replace(TileOutput.concat(parts), closed=closed)

    def _process_events(self, tile: TileDedup, batch: FusedBatch) -> TileOutput:
        fresh, resent = self._drop_processed(tile, batch)
        f = fresh.events
        case_id, is_new, rec = dedup_batch(
            tile.state,
            self.params,
            f["event_id"],
            f["category"],
            f["lat"],
            f["lon"],
            f["event_time_ms"],
            f["device_hash"],
        )
        self._remember(tile, f)
        home = self.router.home_tiles(f["lat"], f["lon"]) == tile.tile
        # The kernel refuses events further behind the tile's newest event than its state
        # reaches (REJECTED): the cases they could belong to may be evicted already. Such
        # an event is still a valid report: it opens a case of its own, kept out of the
        # state (whose eviction bound it is behind), and is flagged so BI can see it.
        beyond = case_id == REJECTED
        case_id = np.where(beyond, f["event_id"], case_id)
        is_new = is_new | beyond
        flags = np.array(f["flags"], dtype=np.uint8)
        flags[beyond] |= np.uint8(FLAG_BEYOND_STATE)
        opened = home & is_new
        out = TileOutput(
            links=self._link_columns(fresh, home, case_id, is_new, rec, flags),
            cases=self._case_columns(fresh, opened, rec, flags),
            beyond_state=int((home & beyond).sum()),
            duplicates=resent.take(
                np.flatnonzero(
                    self.router.home_tiles(resent.events["lat"], resent.events["lon"]) == tile.tile
                )
            )
            if len(resent)
            else resent,
        )
        tile.batches += 1
        if tile.batches % _EVICT_EVERY == 0:
            evict(tile.state, self.params)
        return out

    def _drop_processed(self, tile: TileDedup, batch: FusedBatch) -> tuple[FusedBatch, FusedBatch]:
        """``(events to process, source duplicates)``; drops redeliveries silently.

        An id seen before (earlier in this batch, or processed recently) with the same
        arrival time is a redelivery (a restart replaying uncommitted input): it changes
        nothing. With another arrival time the source sent the record again; the
        normalizer dead-letters those it remembers, and these are the ones it forgot
        across a restart (but for request updates, FLAG_REQUEST_UPDATE: not duplicates).
        """
        if len(batch) == 0:
            return batch, FusedBatch.empty()
        ids = batch.events["event_id"]
        arrivals = batch.events["ingest_time_ms"]
        known, known_arrival = tile.recent.lookup(ids)
        # The first occurrence of an id in canonical order wins within the batch.
        order = np.lexsort((np.arange(len(ids)), arrivals, ids))
        repeat = np.zeros(len(ids), bool)
        repeat[order[1:]] = ids[order[1:]] == ids[order[:-1]]
        if not known.any() and not repeat.any():
            return batch, FusedBatch.empty()
        first_arrival = np.empty(len(ids), np.int64)
        starts = np.ones(len(ids), bool)
        starts[1:] = ~repeat[order[1:]]
        group = np.cumsum(starts) - 1
        first_arrival[order] = arrivals[order][np.flatnonzero(starts)][group]
        previous = np.where(known, known_arrival, first_arrival)
        again = known | repeat
        # A request re-published with an update after a normalizer restart (which forgot
        # it had seen the request) is no duplicate: intake sent its update on already.
        update = (batch.events["flags"] & FLAG_REQUEST_UPDATE) != 0
        resent = again & (previous != arrivals) & ~update
        return batch.take(np.flatnonzero(~again)), batch.take(np.flatnonzero(resent))

    def _remember(self, tile: TileDedup, f: npt.NDArray[Any]) -> None:
        if len(f) == 0:
            return
        arrivals = f["ingest_time_ms"]
        # A whole batch may come again after a restart: never forget part of the last one.
        oldest = min(int(arrivals.min()), int(arrivals.max()) - self.redelivery_horizon_ms)
        tile.recent.remember(f["event_id"], f["ingest_time_ms"], oldest)

    @staticmethod
    def _link_columns(
        batch: FusedBatch,
        mask: npt.NDArray[np.bool_],
        case_id: npt.NDArray[np.uint64],
        is_new: npt.NDArray[np.bool_],
        rec: npt.NDArray[np.uint64],
        flags: npt.NDArray[np.uint8],
    ) -> dict[str, Column]:
        idx = np.flatnonzero(mask)
        f = _take_columns(batch.events, idx, _LINK_FIXED)
        return {
            "event_id": f["event_id"],
            "case_id": case_id[idx],
            "is_new": is_new[idx].astype(np.uint8),
            "recurrence_of": rec[idx],
            "source": f["source"],
            "category": f["category"],
            "flags": flags[idx],
            "lat": f["lat"],
            "lon": f["lon"],
            "event_time_ms": f["event_time_ms"],
            "ingest_time_ms": f["ingest_time_ms"],
            # lazy: the bytes are gathered once, straight into the links' JSON
            "source_ref": batch.strings["source_ref"].take(idx),
        }

    def _case_columns(
        self,
        batch: FusedBatch,
        mask: npt.NDArray[np.bool_],
        rec: npt.NDArray[np.uint64],
        flags: npt.NDArray[np.uint8],
    ) -> dict[str, Column]:
        idx = np.flatnonzero(mask)
        f = _take_columns(batch.events, idx, _CASE_FIXED)
        return {
            "case_id": f["event_id"],
            "category": f["category"],
            "department": self.department[f["category"]].tolist() if len(idx) else [],
            "lat": f["lat"],
            "lon": f["lon"],
            "opened_at_ms": f["event_time_ms"],
            "ingest_time_ms": f["ingest_time_ms"],
            "source": f["source"],
            "flags": flags[idx],
            "recurrence_of": rec[idx],
            "reporter": batch.strings["reporter"].take(idx),
        }
