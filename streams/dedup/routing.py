"""Spatial routing of fused events to coarse tiles, with halo copies near tile borders.

A tile's dedup state lives with one Kafka partition (the tile id is the message key). An
event close to a tile border must still merge with a case just across it, so the event is
also copied into every neighbouring tile within its halo (per event: the dedup engine
gives each category its own, at most ``halo_m``). Each tile runs the same
kernels over its own events and its halo copies; only the tile that owns an event (its
home tile) reports that event's link, and only the tile that owns a case's opening event
reports the case. Every tile's result depends only on its own input, so cases do not
depend on how tiles are spread over partitions and workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kernels.grid import GridSpec, pack_cells, project
from streams.contracts.fused import FusedBatch

__all__ = ["TileRouter"]

_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


@dataclass(frozen=True)
class TileRouter:
    """Maps positions to home tiles and to the neighbour tiles whose halo they fall in.

    ``halo_m`` is the widest halo; :meth:`route` and :meth:`split` take a narrower one
    per event where the caller knows it (the dedup engine: per category).
    """

    spec: GridSpec
    tile_size_m: float
    halo_m: float

    def __post_init__(self) -> None:
        if not 0 <= self.halo_m < self.tile_size_m / 2:
            raise ValueError(
                f"halo ({self.halo_m} m) must be >= 0 and under half the tile size "
                f"({self.tile_size_m} m); raise CITYSTREAM_TILE_SIZE_M"
            )

    def _tile_xy(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        x, y = project(lat, lon, self.spec)
        tx = np.floor(x / self.tile_size_m).astype(np.int64)
        ty = np.floor(y / self.tile_size_m).astype(np.int64)
        return x - tx * self.tile_size_m, y - ty * self.tile_size_m, tx, ty

    def home_tiles(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> np.ndarray:
        _, _, tx, ty = self._tile_xy(lat, lon)
        return pack_cells(tx, ty)

    def route(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike, halo_m: npt.ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(event_index, tile)`` pairs: each event's home tile, then its halo tiles.

        ``halo_m``: per event, at most :attr:`halo_m` (default: that for every event).
        The pairs are sorted by tile, then by event index, so a caller can split them into
        one message per tile with the events in their original order.
        """
        idx, tiles, _ = self._route(lat, lon, halo_m)
        return idx, tiles

    def _route(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike, halo_m: npt.ArrayLike | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`route` plus each event's home tile (projected once for both)."""
        dx, dy, tx, ty = self._tile_xy(lat, lon)
        n = len(tx)
        home = pack_cells(tx, ty)
        idx = [np.arange(n, dtype=np.int64)]
        tiles = [home]
        t = self.tile_size_m
        h: float | np.ndarray = self.halo_m
        if halo_m is not None:
            h = np.asarray(halo_m, dtype=np.float64)
            if h.shape != (n,) or bool(np.any(h > self.halo_m)) or bool(np.any(h < 0)):
                raise ValueError(f"per-event halos must be {n} values in [0, {self.halo_m}] m")
        near = {-1: (dx <= h, dy <= h), 1: (dx >= t - h, dy >= t - h), 0: (None, None)}
        for ox, oy in _NEIGHBOURS:
            mask = np.ones(n, dtype=bool)
            if ox:
                mask &= near[ox][0]
            if oy:
                mask &= near[oy][1]
            sel = np.flatnonzero(mask)
            if sel.size:
                idx.append(sel)
                tiles.append(pack_cells(tx[sel] + ox, ty[sel] + oy))
        all_idx = np.concatenate(idx)
        all_tiles = np.concatenate(tiles)
        order = np.lexsort((all_idx, all_tiles))
        return all_idx[order], all_tiles[order], home

    def split(
        self, batch: FusedBatch, halo_m: npt.ArrayLike | None = None
    ) -> list[tuple[int, FusedBatch]]:
        """One batch per tile (home events and halo copies, in the batch's order).

        Halo copies carry empty string columns: a tile reports links, cases and dead
        letters for its home events only, so the copies' texts would be dead weight.
        """
        if len(batch) == 0:
            return []
        idx, tiles, home = self._route(batch.events["lat"], batch.events["lon"], halo_m)
        bounds = np.flatnonzero(np.diff(tiles)) + 1
        out = []
        for part, part_tiles in zip(np.split(idx, bounds), np.split(tiles, bounds), strict=True):
            tile = int(part_tiles[0])
            out.append((tile, batch.take(part, blank_strings=home[part] != tile)))
        return out
