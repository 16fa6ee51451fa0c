"""Track points to street segments walked (铁脚板): nearest segment, then the walking rule.

Matching (:func:`match_points`): a point (x, y metres in the district's projected plane,
``kernels.grid.project``) matches the nearest piece of any segment within the index's
buffer (distance to the closest point of the straight piece, inclusive); equally near
pieces go to the first in piece order (segments in file order). Its position along the
segment is the piece's offset plus the distance of that closest point from the piece's
start. A point beyond the buffer of every segment matches none (-1).

Walking (:func:`walk_tracks`), per track, over its points in time order: a *run* is a
maximal stretch of consecutive points matched to the same segment, each within
``max_gap_s`` of the previous one; a point matched elsewhere or to nothing, a longer time
gap and a new track all end a run. A run is a VISIT when it spans at least ``min_along_m``
along the segment (max minus min position of its points) or lasts at least
``min_dwell_s`` (last minus first point time); otherwise it is a crossing (or a glimpse)
and its points belong to no visit. A visit's metres walked are its span along the
segment: back and forth counts once, GPS jitter across the street not at all, and a
segment walked end to end reads short by about one ping spacing (the stretch before its
first and after its last point).

Crossing a street perpendicularly spans only the GPS noise along it and lasts the time it
takes to cross the buffer (50 m at walking pace: under a minute): not a visit with the
defaults of ``streams.settings.WalkSettings`` (docs/patrols.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kernels._jit import inline, norc
from kernels.dedup import MAX_EVENT_TIME_MS
from kernels.segments import SegmentIndex

__all__ = ["Matches", "WalkParams", "Walks", "match_points", "walk_tracks"]

MAX_DURATION_S = 7 * 86400

F8Array = npt.NDArray[np.float64]
I8Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WalkParams:
    """The walking rule's thresholds (module doc); durations kept in milliseconds."""

    min_along_m: float
    min_share: float
    min_dwell_ms: int
    max_gap_ms: int

    @classmethod
    def build(
        cls, *, min_along_m: float, min_share: float, min_dwell_s: float, max_gap_s: float
    ) -> WalkParams:
        if not (math.isfinite(min_along_m) and 0.0 < min_along_m <= 10_000.0):
            raise ValueError(f"min_along_m must be in (0, 10000] metres, got {min_along_m!r}")
        if not (math.isfinite(min_share) and 0.0 < min_share <= 1.0):
            raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
        for name, value in (("min_dwell_s", min_dwell_s), ("max_gap_s", max_gap_s)):
            if not (math.isfinite(value) and 0.0 < value <= MAX_DURATION_S):
                raise ValueError(f"{name} must be in (0, {MAX_DURATION_S}] s, got {value!r}")
        return cls(
            float(min_along_m),
            float(min_share),
            round(min_dwell_s * 1000.0),
            round(max_gap_s * 1000.0),
        )

    def span_needed(self, length_m: F8Array) -> F8Array:
        """Per segment: the span along it that makes a run a visit."""
        return np.minimum(self.min_along_m, self.min_share * length_m)


@dataclass(frozen=True, eq=False)
class Matches:
    """Per point: the matched segment id (-1: none) and the position along it (NaN: none)."""

    segment_id: I8Array
    along_m: F8Array


@dataclass(frozen=True, eq=False)
class Walks:
    """Per point: ``segment_id`` (-1: none) and ``visit`` (index into the visit columns,
    -1: in no visit). Per visit: track, segment id, first and last point time, number of
    points, metres walked along the segment."""

    segment_id: I8Array
    visit: I8Array
    visit_track: I8Array
    visit_segment_id: I8Array
    visit_t_start_ms: I8Array
    visit_t_end_ms: I8Array
    visit_points: I8Array
    visit_metres: F8Array

    @property
    def n_visits(self) -> int:
        return int(self.visit_track.shape[0])


# -- kernels ---------------------------------------------------------------------------


@inline
def _nearest(x, y, buf2, inv, ix0, iy0, nx, ny, start, pieces, ax, ay, bx, by):
    """(best piece or -1, its t in [0, 1]) among the pieces listed in the point's bucket."""
    ix = np.int64(np.floor(x * inv)) - ix0
    iy = np.int64(np.floor(y * inv)) - iy0
    best, best_d2, best_t = -1, buf2, 0.0
    if ix < 0 or ix >= nx or iy < 0 or iy >= ny:
        return best, best_t
    row = ix * ny + iy
    for j in range(start[row], start[row + 1]):
        p = pieces[j]
        dx = bx[p] - ax[p]
        dy = by[p] - ay[p]
        t = ((x - ax[p]) * dx + (y - ay[p]) * dy) / (dx * dx + dy * dy)
        t = min(max(t, 0.0), 1.0)
        ex = x - (ax[p] + t * dx)
        ey = y - (ay[p] + t * dy)
        d2 = ex * ex + ey * ey
        if d2 < best_d2 or (best < 0 and d2 == best_d2):
            best, best_d2, best_t = p, d2, t
    return best, best_t


@norc
def match_kernel(
    x, y, buf2, inv, ix0, iy0, nx, ny, start, pieces, ax, ay, bx, by, plen, poff, pseg, seg, along
):
    for i in range(x.shape[0]):
        p, t = _nearest(x[i], y[i], buf2, inv, ix0, iy0, nx, ny, start, pieces, ax, ay, bx, by)
        if p < 0:
            seg[i] = -1
            along[i] = np.nan
        else:
            seg[i] = pseg[p]
            along[i] = poff[p] + t * plen[p]


@inline
def _run_end(i, track, t_ms, seg, along, max_gap):
    """(one past the last point, min and max position) of the run starting at point ``i``."""
    lo = along[i]
    hi = along[i]
    j = i + 1
    if seg[i] < 0:
        return j, lo, hi
    while j < track.shape[0] and track[j] == track[i] and seg[j] == seg[i]:
        if t_ms[j] - t_ms[j - 1] > max_gap:
            break
        lo = min(lo, along[j])
        hi = max(hi, along[j])
        j += 1
    return j, lo, hi


@norc
def runs_kernel(track, t_ms, seg, along, need, min_dwell, max_gap, seg_id, visit, out):
    v_track, v_seg, v_t0, v_t1, v_points, v_metres = out
    nv = 0
    i = 0
    while i < track.shape[0]:
        g = seg[i]
        j, lo, hi = _run_end(i, track, t_ms, seg, along, max_gap)
        is_visit = g >= 0 and (hi - lo >= need[g] or t_ms[j - 1] - t_ms[i] >= min_dwell)
        for k in range(i, j):
            visit[k] = nv if is_visit else -1
        if is_visit:
            v_track[nv] = track[i]
            v_seg[nv] = seg_id[g]
            v_t0[nv] = t_ms[i]
            v_t1[nv] = t_ms[j - 1]
            v_points[nv] = j - i
            v_metres[nv] = hi - lo
            nv += 1
        i = j
    return nv


# -- wrappers --------------------------------------------------------------------------


def _floats(name: str, a: Any, n: int | None) -> F8Array:
    arr = np.asarray(a)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = "1-D" if n is None else f"shape ({n},)"
        raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}[{int(np.flatnonzero(~np.isfinite(arr))[0])}] is not finite")
    return arr


def _ints(name: str, a: Any, n: int, lo: int = -(1 << 63), hi: int = 1 << 63) -> I8Array:
    """``a`` as int64 of shape (n,), each in [lo, hi) (checked before the cast, so a uint64
    beyond int64 cannot wrap)."""
    arr = np.asarray(a)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    bad = np.flatnonzero((arr < lo) | (arr >= hi))
    if bad.size:
        raise ValueError(f"{name}[{int(bad[0])}] = {int(arr[bad[0]])} is outside [{lo}, {hi})")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _match(index: SegmentIndex, x: F8Array, y: F8Array) -> tuple[I8Array, F8Array]:
    seg = np.empty(x.shape[0], dtype=np.int64)
    along = np.empty(x.shape[0], dtype=np.float64)
    match_kernel(x, y, *index.kernel_args(), seg, along)
    return seg, along


def _ids(index: SegmentIndex, seg: I8Array) -> I8Array:
    return np.where(seg >= 0, index.segment_id[seg], -1)


def match_points(index: SegmentIndex, x: Any, y: Any) -> Matches:
    """Nearest segment within the index's buffer of every point (module doc)."""
    px = _floats("x", x, None)
    seg, along = _match(index, px, _floats("y", y, px.shape[0]))
    return Matches(_ids(index, seg), along)


def _check_order(track: I8Array, t_ms: I8Array) -> None:
    if track.shape[0] < 2:
        return
    back = np.flatnonzero(track[1:] < track[:-1])
    if back.size:
        raise ValueError(f"points must be sorted by track: track[{int(back[0]) + 1}] decreases")
    same = track[1:] == track[:-1]
    back = np.flatnonzero(same & (t_ms[1:] < t_ms[:-1]))
    if back.size:
        raise ValueError(
            f"points of a track must be sorted by time: t_ms[{int(back[0]) + 1}] goes back"
        )


def walk_tracks(
    index: SegmentIndex, params: WalkParams, track: Any, t_ms: Any, x: Any, y: Any
) -> Walks:
    """Segments walked by points sorted by track, then time (module doc). Raises
    ValueError on bad input."""
    px = _floats("x", x, None)
    n = px.shape[0]
    py = _floats("y", y, n)
    tr = _ints("track", track, n)
    t = _ints("t_ms", t_ms, n, 0, MAX_EVENT_TIME_MS)
    _check_order(tr, t)
    seg, along = _match(index, px, py)
    visit = np.empty(n, dtype=np.int64)
    ints = [np.empty(n, dtype=np.int64) for _ in range(5)]
    metres = np.empty(n, dtype=np.float64)
    out = (*ints, metres)
    need = params.span_needed(index.length_m)
    nv = runs_kernel(
        tr,
        t,
        seg,
        along,
        need,
        params.min_dwell_ms,
        params.max_gap_ms,
        index.segment_id,
        visit,
        out,
    )
    track_v, seg_v, t0, t1, points = (col[:nv].copy() for col in ints)
    return Walks(_ids(index, seg), visit, track_v, seg_v, t0, t1, points, metres[:nv].copy())
