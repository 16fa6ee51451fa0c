"""The dedup core as the streaming shell and the offline replay both run it.

One :class:`TileDedup` per coarse tile holds a kernel state and the ids it has processed
recently (so a batch redelivered after a crash changes nothing). :class:`DedupEngine`
turns a tile's released, canonically ordered events (home events and halo copies) into
the outputs that tile owns: the links of its home events and the cases its home events
opened. Everything is arrays; there is no Python loop per event.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from kernels.dedup import REJECTED, dedup_batch, evict
from kernels.grid import GridSpec
from kernels.params import DedupParams
from kernels.state import DedupState, restore, snapshot
from streams.app.routing import TileRouter
from streams.intake.categories import CategoryTable
from streams.intake.fused import FusedBatch
from streams.settings import Settings

__all__ = ["DedupEngine", "TileDedup", "TileOutput", "build_params"]

_TILE_MAGIC = b"CSTILE01"
_TILE_HEADER = struct.Struct("<8sqQQ")  # magic, tile, n recent ids, kernel snapshot bytes
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
        recurrence_window_s=settings.recurrence_window_s,
        allowed_lateness_s=settings.allowed_lateness_s,
        max_open_age_s=settings.max_open_age_s,
    )


@dataclass
class TileDedup:
    """Kernel state of one tile plus the ids it processed within the redelivery horizon."""

    tile: int
    state: DedupState
    recent: dict[int, int] = field(default_factory=dict)  # event id -> ingest ms
    batches: int = 0

    def to_bytes(self) -> bytes:
        kernel = snapshot(self.state)
        ids = np.fromiter(self.recent.keys(), np.uint64, len(self.recent))
        times = np.fromiter(self.recent.values(), np.int64, len(self.recent))
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
        ids = np.frombuffer(data, "<u8", n_ids, off)
        times = np.frombuffer(data, "<i8", n_ids, off + 8 * n_ids)
        return cls(tile, state, dict(zip(ids.tolist(), times.tolist(), strict=True)))


@dataclass(frozen=True)
class TileOutput:
    """What one tile reports for one released batch (columns of equal length each)."""

    links: dict[str, npt.NDArray[Any] | list[str]]
    cases: dict[str, npt.NDArray[Any] | list[str]]
    rejected: FusedBatch  # beyond the allowed lateness: the caller dead-letters them
    duplicates: FusedBatch  # the source sent an accepted record again: dead-letter them

    @property
    def n_links(self) -> int:
        return len(self.links["event_id"])


class DedupEngine:
    """Runs the kernels per tile; knows which tile owns which event and case."""

    def __init__(self, settings: Settings, table: CategoryTable, spec: GridSpec) -> None:
        self.settings = settings
        self.table = table
        self.spec = spec
        self.params = build_params(table, settings)
        max_radius = float(self.params.radius_m.max()) if len(self.params.radius_m) else 0.0
        # Twice the largest radius: a case within reach of a home event, and the events
        # that keep that case alive, all lie within the halo.
        self.router = TileRouter(spec, settings.tile_size_m, 2.0 * max_radius)
        self.redelivery_horizon_ms = settings.redelivery_horizon_s * 1000
        self.department = np.array(
            [
                table.by_id[i].department if i in table.by_id else ""
                for i in range(len(self.params.radius_m))
            ],
            dtype=object,
        )

    def new_tile(self, tile: int) -> TileDedup:
        return TileDedup(tile, DedupState(self.spec))

    def process(self, tile: TileDedup, batch: FusedBatch) -> TileOutput:
        """Deduplicate a canonically ordered batch of the tile's home and halo events."""
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
        rejected = case_id == REJECTED
        keep = home & ~rejected
        opened = keep & is_new
        out = TileOutput(
            links=self._link_columns(fresh, keep, case_id, is_new, rec),
            cases=self._case_columns(fresh, opened, rec),
            rejected=fresh.take(np.flatnonzero(home & rejected)),
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

        An id processed before with the same arrival time is a redelivery (a restart
        replaying uncommitted input): it changes nothing. With another arrival time the
        source sent the record again; the normalizer dead-letters those it remembers, and
        these are the ones it forgot across a restart.
        """
        if not tile.recent or len(batch) == 0:
            return batch, FusedBatch.empty()
        recent = tile.recent
        ids = batch.events["event_id"].tolist()
        arrivals = batch.events["ingest_time_ms"].tolist()
        seen = np.fromiter((i in recent for i in ids), bool, len(ids))
        if not seen.any():
            return batch, FusedBatch.empty()
        resent = np.fromiter(
            (recent.get(i, a) != a for i, a in zip(ids, arrivals, strict=True)), bool, len(ids)
        )
        return batch.take(np.flatnonzero(~seen)), batch.take(np.flatnonzero(seen & resent))

    def _remember(self, tile: TileDedup, f: npt.NDArray[Any]) -> None:
        if len(f) == 0:
            return
        tile.recent.update(zip(f["event_id"].tolist(), f["ingest_time_ms"].tolist(), strict=True))
        horizon = int(f["ingest_time_ms"].max()) - self.redelivery_horizon_ms
        if len(tile.recent) > 4 * len(f) + 1024:
            tile.recent = {k: v for k, v in tile.recent.items() if v >= horizon}

    @staticmethod
    def _link_columns(
        batch: FusedBatch,
        mask: npt.NDArray[np.bool_],
        case_id: npt.NDArray[np.uint64],
        is_new: npt.NDArray[np.bool_],
        rec: npt.NDArray[np.uint64],
    ) -> dict[str, npt.NDArray[Any] | list[str]]:
        idx = np.flatnonzero(mask)
        f = batch.events[idx]
        refs = batch.column("source_ref")
        return {
            "event_id": f["event_id"],
            "case_id": case_id[idx],
            "is_new": is_new[idx].astype(np.uint8),
            "recurrence_of": rec[idx],
            "source": f["source"],
            "category": f["category"],
            "flags": f["flags"],
            "lat": f["lat"],
            "lon": f["lon"],
            "event_time_ms": f["event_time_ms"],
            "ingest_time_ms": f["ingest_time_ms"],
            "source_ref": [refs[i] for i in idx.tolist()],
        }

    def _case_columns(
        self, batch: FusedBatch, mask: npt.NDArray[np.bool_], rec: npt.NDArray[np.uint64]
    ) -> dict[str, npt.NDArray[Any] | list[str]]:
        idx = np.flatnonzero(mask)
        f = batch.events[idx]
        reporters = batch.column("reporter")
        return {
            "case_id": f["event_id"],
            "category": f["category"],
            "department": self.department[f["category"]].tolist() if len(idx) else [],
            "lat": f["lat"],
            "lon": f["lon"],
            "opened_at_ms": f["event_time_ms"],
            "ingest_time_ms": f["ingest_time_ms"],
            "source": f["source"],
            "flags": f["flags"],
            "recurrence_of": rec[idx],
            "reporter": [reporters[i] for i in idx.tolist()],
        }
