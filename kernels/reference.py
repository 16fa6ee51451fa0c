"""Slow, obviously-correct pure-Python twins of every kernel (for tests and benchmarks).

Same float operations in the same order as the kernels (Python floats are IEEE doubles),
so results agree bit for bit. Dedup is brute force over every case ever opened and never
evicts: the kernel, evicting at any time, must give identical outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kernels.grid import CELL_OFFSET, GridSpec
from kernels.params import DedupParams
from kernels.segments import SegmentIndex
from kernels.state import OPEN
from kernels.walk import WalkParams

__all__ = [
    "ReferenceDedup",
    "ref_cell_ids",
    "ref_match_points",
    "ref_neighbour_cells",
    "ref_point_in_polygon",
    "ref_project",
    "ref_tile_ids",
    "ref_unit_grid_lookup",
    "ref_walk_tracks",
]


def _pack(ix: int, iy: int) -> int:
    return ((ix + CELL_OFFSET) << 32) | (iy + CELL_OFFSET)


def _xy(lat: float, lon: float, spec: GridSpec) -> tuple[float, float]:
    return (float(lon) - spec.origin_lon) * spec.kx, (float(lat) - spec.origin_lat) * spec.ky


def ref_project(
    lat: Sequence[float], lon: Sequence[float], spec: GridSpec
) -> tuple[list[float], list[float]]:
    pts = [_xy(a, b, spec) for a, b in zip(lat, lon, strict=True)]
    return [p[0] for p in pts], [p[1] for p in pts]


def ref_cell_ids(lat: Sequence[float], lon: Sequence[float], spec: GridSpec) -> list[int]:
    out = []
    for a, b in zip(lat, lon, strict=True):
        x, y = _xy(a, b, spec)
        out.append(_pack(math.floor(x * spec.inv_cell), math.floor(y * spec.inv_cell)))
    return out


def ref_tile_ids(
    lat: Sequence[float], lon: Sequence[float], spec: GridSpec, tile_size_m: float
) -> list[int]:
    k = spec.tile_factor(tile_size_m)
    out = []
    for c in ref_cell_ids(lat, lon, spec):
        ix, iy = (c >> 32) - CELL_OFFSET, (c & 0xFFFFFFFF) - CELL_OFFSET
        out.append(_pack(ix // k, iy // k))
    return out


def ref_neighbour_cells(cell_id: int, rings: int = 1) -> list[int]:
    ix, iy = (cell_id >> 32) - CELL_OFFSET, (cell_id & 0xFFFFFFFF) - CELL_OFFSET
    r = range(-rings, rings + 1)
    return [_pack(ix + a, iy + b) for a in r for b in r]


def ref_point_in_polygon(
    x: float, y: float, rings: Sequence[Sequence[tuple[float, float]]]
) -> bool:
    """Even-odd rule over all rings (outer and holes); half-open edges as in the kernel."""
    inside = False
    for ring in rings:
        n = len(ring)
        for i in range(n):
            x1, y1 = ring[i]
            x2, y2 = ring[(i + 1) % n]
            if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
                inside = not inside
    return inside


def ref_unit_grid_lookup(
    polygons: Sequence[tuple[int, Sequence[Sequence[tuple[float, float]]]]],
    lat: Sequence[float],
    lon: Sequence[float],
    spec: GridSpec,
) -> list[int]:
    """``polygons``: (grid code, rings of projected (x, y)); first containing one wins."""
    out = []
    for a, b in zip(lat, lon, strict=True):
        x, y = _xy(a, b, spec)
        out.append(next((code for code, r in polygons if ref_point_in_polygon(x, y, r)), 0))
    return out


@dataclass
class _Case:
    case_id: int
    category: int
    x: float
    y: float
    opened_t: int
    last_t: int
    n_events: int
    device_hash: int
    closed_t: int = OPEN
    recurrence_of: int = 0


class ReferenceDedup:
    """Brute-force dedup with the semantics documented in ``kernels.dedup``."""

    def __init__(self, spec: GridSpec, params: DedupParams) -> None:
        self.spec = spec
        self.p = params
        self.cases: dict[int, _Case] = {}
        self.max_t: int | None = None

    def _watermark(self) -> int | None:
        return None if self.max_t is None else self.max_t - self.p.max_lateness_ms

    def _live(self, k: _Case, t: int) -> bool:
        if t >= k.closed_t:
            return False
        c = k.category
        if abs(t - k.last_t) <= self.p.window_ms[c]:
            return True
        return k.opened_t <= t and t - k.last_t <= self.p.max_open_age_ms[c]

    def _expired(self, k: _Case) -> bool:
        w = self._watermark()
        c = k.category
        return w is not None and w > k.last_t + max(self.p.window_ms[c], self.p.max_open_age_ms[c])

    def process(
        self, event_id: int, cat: int, lat: float, lon: float, t: int, dev: int
    ) -> tuple[int, bool, int]:
        p = self.p
        if self.max_t is not None and t < self.max_t - p.lateness_ms[cat]:
            return 0, False, 0
        self.max_t = t if self.max_t is None else max(self.max_t, t)
        if event_id in self.cases:
            k = self.cases[event_id]
            return k.case_id, True, k.recurrence_of
        x, y = _xy(lat, lon, self.spec)
        if p.search_radius_m[cat] == 0:
            return event_id, True, 0
        best: tuple[float, int] | None = None
        rec: tuple[float, int] | None = None
        if dev != 0:
            for k in self.cases.values():
                if k.device_hash == dev and p.compat[cat, k.category] and self._live(k, t):
                    cand = (math.sqrt((k.x - x) * (k.x - x) + (k.y - y) * (k.y - y)), k.case_id)
                    best = cand if best is None else min(best, cand)
        if best is None:
            for k in self.cases.values():
                if not p.compat[cat, k.category]:
                    continue
                d = math.sqrt((k.x - x) * (k.x - x) + (k.y - y) * (k.y - y))
                if d > p.radius_m[k.category]:
                    continue
                if self._live(k, t):
                    best = (d, k.case_id) if best is None else min(best, (d, k.case_id))
                elif k.closed_t <= t <= k.closed_t + p.recurrence_ms[k.category]:
                    rec = (d, k.case_id) if rec is None else min(rec, (d, k.case_id))
        if best is not None:
            k = self.cases[best[1]]
            k.last_t = max(k.last_t, t)
            k.n_events += 1
            return k.case_id, False, 0
        rec_id = 0 if rec is None else rec[1]
        self.cases[event_id] = _Case(event_id, cat, x, y, t, t, 1, dev, recurrence_of=rec_id)
        return event_id, True, rec_id

    def dedup_batch(self, *columns: Sequence[Any]) -> tuple[list[int], list[bool], list[int]]:
        """Same argument order as :func:`kernels.dedup.dedup_batch` (without state/params)."""
        out = [
            self.process(int(e), int(c), a, b, int(t), int(d))
            for e, c, a, b, t, d in zip(*columns, strict=True)
        ]
        return [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]

    def close_cases(self, case_ids: Sequence[int], closed_t: Sequence[int]) -> list[bool]:
        applied = []
        for cid, when in zip(case_ids, closed_t, strict=True):
            k = self.cases.get(int(cid))
            ok = k is not None and k.closed_t == OPEN and not self._expired(k)
            if ok and k is not None:
                k.closed_t = max(int(when), k.opened_t)
            applied.append(ok)
        return applied


def ref_match_points(
    index: SegmentIndex, x: Sequence[float], y: Sequence[float]
) -> list[tuple[int, float]]:
    """(segment id or -1, position along it or NaN) per point, over every piece in order."""
    buf2 = index.buffer_m * index.buffer_m
    out = []
    for px, py in zip(x, y, strict=True):
        best: tuple[float, int, float] | None = None  # (d2, piece, t)
        for p in range(index.n_pieces):
            ax, ay = float(index.ax[p]), float(index.ay[p])
            dx, dy = float(index.bx[p]) - ax, float(index.by[p]) - ay
            t = min(max(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0.0), 1.0)
            ex, ey = px - (ax + t * dx), py - (ay + t * dy)
            d2 = ex * ex + ey * ey
            if d2 <= buf2 and (best is None or d2 < best[0]):
                best = (d2, p, t)
        if best is None:
            out.append((-1, math.nan))
        else:
            _, p, t = best
            along = float(index.piece_off[p]) + t * float(index.piece_len[p])
            out.append((int(index.segment_id[index.piece_seg[p]]), along))
    return out


def ref_walk_tracks(
    index: SegmentIndex,
    params: WalkParams,
    track: Sequence[int],
    t_ms: Sequence[int],
    x: Sequence[float],
    y: Sequence[float],
) -> tuple[list[int], list[int], list[tuple[int, int, int, int, int, float]]]:
    """(segment id per point, visit per point, visits as (track, segment id, t_start_ms,
    t_end_ms, points, metres)): runs cut first, then each run judged."""
    matches = ref_match_points(index, x, y)
    seg = [m[0] for m in matches]
    lengths = {int(i): float(n) for i, n in zip(index.segment_id, index.length_m, strict=True)}
    runs: list[list[int]] = []
    for i in range(len(seg)):
        same = (
            runs
            and seg[i] >= 0
            and track[i] == track[i - 1]
            and seg[i] == seg[i - 1]
            and t_ms[i] - t_ms[i - 1] <= params.max_gap_ms
        )
        if same:
            runs[-1].append(i)
        else:
            runs.append([i])
    visit = [-1] * len(seg)
    visits: list[tuple[int, int, int, int, int, float]] = []
    for run in runs:
        sid = seg[run[0]]
        if sid < 0:
            continue
        span = max(matches[i][1] for i in run) - min(matches[i][1] for i in run)
        need = min(params.min_along_m, params.min_share * lengths[sid])
        if span >= need or t_ms[run[-1]] - t_ms[run[0]] >= params.min_dwell_ms:
            for i in run:
                visit[i] = len(visits)
            visits.append(
                (int(track[run[0]]), sid, int(t_ms[run[0]]), int(t_ms[run[-1]]), len(run), span)
            )
    return seg, visit, visits
