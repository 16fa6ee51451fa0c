"""Street segments in the metric plane, with a bucket index for nearest-segment queries.

A segment (one feature of the street network, ``streams.reference.streets``) is a polyline;
its consecutive vertex pairs are straight *pieces* (pieces of zero length are dropped).
Everything is projected with the district's :class:`~kernels.grid.GridSpec`, as the track
points are, so distances and positions along a segment are metres in that plane.

The index is a dense grid of square buckets (``bucket_m``) over the network's bounding box:
a piece is listed in every bucket its bounding box, widened by the match buffer (plus a
millimetre, so float rounding at a border never loses a piece within the buffer), touches.
A point then reads its own bucket only: every piece within the buffer of the point is
listed there, in piece order (segments in file order, then along each segment), the order
that breaks ties between equally near pieces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kernels.grid import GridSpec, project

__all__ = ["MAX_BUCKETS", "SegmentIndex"]

MAX_BUCKETS = 50_000_000  # 400 MB of bucket starts: a city at a sensible bucket size
_MARGIN_M = 1e-3

F8Array = npt.NDArray[np.float64]
I8Array = npt.NDArray[np.int64]


def _ints(name: str, a: Any) -> I8Array:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_layout(segment_id: I8Array, vert_ptr: I8Array, n_vertices: int) -> None:
    n = segment_id.shape[0]
    if n == 0:
        raise ValueError("the street network has no segments")
    if segment_id.min() < 0:
        raise ValueError(f"segment ids must be >= 0, got {int(segment_id.min())}")
    uniq, counts = np.unique(segment_id, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"duplicate segment_id {int(uniq[np.argmax(counts > 1)])}")
    if vert_ptr.shape != (n + 1,) or vert_ptr[0] != 0 or vert_ptr[-1] != n_vertices:
        raise ValueError(f"vert_ptr must have {n + 1} entries from 0 to {n_vertices}")
    short = np.flatnonzero(np.diff(vert_ptr) < 2)
    if short.size:
        raise ValueError(f"segment {int(segment_id[short[0]])} has fewer than 2 vertices")


@dataclass(frozen=True, eq=False)
class SegmentIndex:
    """Pieces, segments and buckets as flat arrays (see the module doc). Use :meth:`build`."""

    spec: GridSpec
    buffer_m: float  # a point matches pieces within this distance (inclusive)
    bucket_m: float
    segment_id: I8Array  # per segment
    length_m: F8Array  # per segment: its length in the projected plane
    ax: F8Array  # per piece: start (ax, ay), end (bx, by)
    ay: F8Array
    bx: F8Array
    by: F8Array
    piece_len: F8Array
    piece_off: F8Array  # distance along its segment where the piece starts
    piece_seg: I8Array  # the piece's segment (index into the per-segment arrays)
    origin: tuple[int, int, int, int]  # ix0, iy0, nx, ny of the bucket box
    bucket_start: I8Array  # bucket (ix, iy) lists bucket_piece[start[r]:start[r + 1]]
    bucket_piece: npt.NDArray[np.int32]  # r = (ix - ix0) * ny + (iy - iy0)

    @classmethod
    def build(
        cls,
        spec: GridSpec,
        segment_id: Any,
        vert_ptr: Any,
        lat: Any,
        lon: Any,
        *,
        buffer_m: float,
        bucket_m: float | None = None,
    ) -> SegmentIndex:
        """Segment ``k`` has the WGS84 vertices ``vert_ptr[k]:vert_ptr[k + 1]`` of
        ``lat``/``lon``; ``bucket_m`` defaults to twice the buffer (at least 10 m)."""
        if not (math.isfinite(buffer_m) and 0.0 < buffer_m <= 1000.0):
            raise ValueError(f"buffer_m must be in (0, 1000] metres, got {buffer_m!r}")
        bucket = max(2.0 * buffer_m, 10.0) if bucket_m is None else float(bucket_m)
        if not (math.isfinite(bucket) and 1.0 <= bucket <= 10_000.0):
            raise ValueError(f"bucket_m must be in [1, 10000] metres, got {bucket_m!r}")
        seg_id, ptr = _ints("segment_id", segment_id), _ints("vert_ptr", vert_ptr)
        vx, vy = project(lat, lon, spec)
        _check_layout(seg_id, ptr, vx.shape[0])
        # pieces: vertex v to v + 1 within a segment, zero-length ones dropped
        owner = np.repeat(np.arange(seg_id.shape[0]), np.diff(ptr))
        start = np.flatnonzero(owner[:-1] == owner[1:])
        plen = np.hypot(vx[start + 1] - vx[start], vy[start + 1] - vy[start])
        start, plen = start[plen > 0], plen[plen > 0]
        piece_seg = owner[start].astype(np.int64)
        length = np.bincount(piece_seg, weights=plen, minlength=seg_id.shape[0]).astype(np.float64)
        if (length <= 0).any():
            k = int(np.flatnonzero(length <= 0)[0])
            raise ValueError(f"segment {int(seg_id[k])} has zero length")
        first = np.searchsorted(piece_seg, np.arange(seg_id.shape[0]))
        off = np.cumsum(plen) - plen
        piece_off = off - off[first][piece_seg]
        geometry = (vx[start], vy[start], vx[start + 1], vy[start + 1])
        origin, bucket_start, bucket_piece = _buckets(*geometry, buffer_m, bucket)
        ax, ay, bx, by = (np.ascontiguousarray(a) for a in geometry)
        return cls(
            spec=spec,
            buffer_m=float(buffer_m),
            bucket_m=bucket,
            segment_id=seg_id,
            length_m=length,
            ax=ax,
            ay=ay,
            bx=bx,
            by=by,
            piece_len=plen,
            piece_off=piece_off,
            piece_seg=piece_seg,
            origin=origin,
            bucket_start=bucket_start,
            bucket_piece=bucket_piece,
        )

    @property
    def n_segments(self) -> int:
        return int(self.segment_id.shape[0])

    @property
    def n_pieces(self) -> int:
        return int(self.ax.shape[0])

    def kernel_args(self) -> tuple[Any, ...]:
        """What the matching kernel takes after the points (``kernels.walk``); it gives
        segment indexes into the per-segment arrays."""
        ix0, iy0, nx, ny = self.origin
        return (
            self.buffer_m * self.buffer_m,
            1.0 / self.bucket_m,
            ix0,
            iy0,
            nx,
            ny,
            self.bucket_start,
            self.bucket_piece,
            self.ax,
            self.ay,
            self.bx,
            self.by,
            self.piece_len,
            self.piece_off,
            self.piece_seg,
        )


def _buckets(
    ax: F8Array, ay: F8Array, bx: F8Array, by: F8Array, buffer_m: float, bucket_m: float
) -> tuple[tuple[int, int, int, int], I8Array, npt.NDArray[np.int32]]:
    inv, reach = 1.0 / bucket_m, buffer_m + _MARGIN_M
    x0 = np.floor((np.minimum(ax, bx) - reach) * inv).astype(np.int64)
    x1 = np.floor((np.maximum(ax, bx) + reach) * inv).astype(np.int64)
    y0 = np.floor((np.minimum(ay, by) - reach) * inv).astype(np.int64)
    y1 = np.floor((np.maximum(ay, by) + reach) * inv).astype(np.int64)
    ix0, iy0 = int(x0.min()), int(y0.min())
    nx, ny = int(x1.max()) - ix0 + 1, int(y1.max()) - iy0 + 1
    if nx * ny > MAX_BUCKETS:
        raise ValueError(f"the network spans {nx} x {ny} buckets; use a larger bucket_m")
    wx, wy = x1 - x0 + 1, y1 - y0 + 1
    count = wx * wy
    piece = np.repeat(np.arange(ax.shape[0], dtype=np.int32), count)
    # position of each entry within its piece's block, then its bucket row
    k = np.arange(piece.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    row = (x0[piece] - ix0 + k // wy[piece]) * ny + (y0[piece] - iy0 + k % wy[piece])
    order = np.argsort(row, kind="stable")  # keeps piece order within a bucket
    start = np.zeros(nx * ny + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=nx * ny), out=start[1:])
    return (ix0, iy0, nx, ny), start, piece[order]
