"""The qibin street network as the walking kernel sees it, and tracks drawn over it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from kernels import GridSpec, SegmentIndex, WalkParams
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork

BUFFER_M = 25.0
PARAMS = WalkParams.build(min_along_m=30.0, min_share=0.5, min_dwell_s=180.0, max_gap_s=120.0)


def qibin_index() -> SegmentIndex:
    district = District.load("qibin")
    spec = GridSpec(*district.origin, 100.0)
    return StreetNetwork.for_district(district).index(spec, BUFFER_M)


@dataclass(frozen=True)
class Points:
    track: np.ndarray
    t_ms: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def columns(self) -> tuple[np.ndarray, ...]:
        return self.track, self.t_ms, self.x, self.y


def street_pieces(index: SegmentIndex, first_id: int) -> list[int]:
    """The pieces of the street whose first segment is ``first_id``, in walking order."""
    ids = index.segment_id
    seg = [k for k in range(index.n_segments) if ids[k] // 1000 == first_id // 1000]
    return [p for p in range(index.n_pieces) if index.piece_seg[p] in seg]


def along_pieces(index: SegmentIndex, pieces: list[int], spacing_m: float) -> np.ndarray:
    """Points every ``spacing_m`` along the pieces (each piece's end included)."""
    out = []
    for p in pieces:
        n = max(1, math.ceil(float(index.piece_len[p]) / spacing_m))
        f = np.arange(n + 1) / n
        out.append(
            np.column_stack(
                [
                    index.ax[p] + f * (index.bx[p] - index.ax[p]),
                    index.ay[p] + f * (index.by[p] - index.ay[p]),
                ]
            )
        )
    return np.concatenate(out)


def lonely_piece(index: SegmentIndex) -> int:
    """A piece of at least 95 m whose midpoint is more than 150 m from every other street."""
    mx, my = (index.ax + index.bx) / 2, (index.ay + index.by) / 2
    street = index.segment_id[index.piece_seg] // 1000
    for p in range(index.n_pieces):
        if index.piece_len[p] < 95:
            continue
        dx, dy = index.bx - index.ax, index.by - index.ay
        t = ((mx[p] - index.ax) * dx + (my[p] - index.ay) * dy) / (dx * dx + dy * dy)
        t = np.clip(t, 0, 1)
        d = np.hypot(mx[p] - index.ax - t * dx, my[p] - index.ay - t * dy)
        others = street != street[p]
        if d[others].min() > 150:
            return p
    raise AssertionError("no lonely piece in the network")


def frame(index: SegmentIndex, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(midpoint, unit vector along, unit vector across) of piece ``p``."""
    a = np.array([index.ax[p], index.ay[p]])
    b = np.array([index.bx[p], index.by[p]])
    u = (b - a) / np.hypot(*(b - a))
    return (a + b) / 2, u, np.array([-u[1], u[0]])


# One track: (piece it starts on, where along it, heading in degrees from the piece's
# direction, step in metres, GPS noise in metres, time steps in seconds, noise seed).
_track = st.tuples(
    st.integers(0, 10**6),
    st.floats(0, 1),
    st.sampled_from([0.0, 0.0, 180.0, 90.0, 30.0, 5.0]),
    st.sampled_from([0.0, 1.5, 4.0, 8.0, 15.0]),
    st.sampled_from([0.0, 2.0, 6.0, 15.0]),
    st.lists(st.sampled_from([0, 1, 5, 5, 10, 30, 60, 130]), min_size=0, max_size=40),
    st.integers(0, 2**32 - 1),
)
tracks = st.lists(_track, min_size=0, max_size=5)


def draw_points(index: SegmentIndex, specs: list[Any]) -> Points:
    """The tracks of ``specs`` (see ``_track``) as sorted columns."""
    cols: list[list[Any]] = [[], [], [], []]
    for k, (piece, f, heading, step, noise, steps, seed) in enumerate(specs):
        p = piece % index.n_pieces
        rng = np.random.default_rng(seed)
        a = np.array([index.ax[p], index.ay[p]])
        d = np.array([index.bx[p], index.by[p]]) - a
        angle = math.atan2(d[1], d[0]) + math.radians(heading)
        pos = a + f * d
        t = 1_000_000 * (k % 3)  # tracks may overlap in time
        for dt in [0, *steps]:
            t += dt * 1000
            pos = pos + step * np.array([math.cos(angle), math.sin(angle)]) * (dt > 0)
            xy = pos + rng.normal(0, noise, 2) if noise else pos
            for col, v in zip(cols, (k, t, xy[0], xy[1]), strict=True):
                col.append(v)
    return Points(
        np.array(cols[0], dtype=np.int64),
        np.array(cols[1], dtype=np.int64),
        np.array(cols[2], dtype=np.float64),
        np.array(cols[3], dtype=np.float64),
    )
