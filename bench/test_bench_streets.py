"""Street matching (铁脚板): the walking kernel's nearest-segment step beside shapely's STRtree.

Both get the same projected patrol pings and the same segments of the committed qibin
network (1,551 segments, 153 km): the subject is ``kernels.match_points`` (nearest segment
within the 25 m buffer, and the position along it), the peer ``shapely.STRtree`` over the
segments' LineStrings, ``query_nearest(points, max_distance=25, all_matches=False)``
including making the point geometries (the peer does less: no position along the
segment). Both indexes are built once, outside the timed rounds, and the JIT is warm.

The pings are walks along the district's streets (a ping every 6.5 m, 1.3 m/s every 5 s,
bouncing at the street's ends) with 8 m GPS noise, plus 10 % anywhere in the district:
about nine in ten match a segment. Run: ``citystream bench --suites kernels``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.harness import SUBJECT, BenchScale, peer, record
from bench.harness.services import require_module
from kernels import GridSpec, SegmentIndex, match_points, project, warmup
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from streams.settings import Settings

pytestmark = pytest.mark.bench

N_PINGS = 2_000_000
SMOKE_PINGS = 20_000
PEER_PINGS = 200_000  # the peer runs on a prefix: events/s makes the two comparable
PER_WALK = 500
STEP_M, NOISE_M, STRAY = 6.5, 8.0, 0.1


@pytest.fixture(scope="module")
def streets() -> tuple[StreetNetwork, SegmentIndex]:
    warmup()
    district = District.load("qibin")
    settings = Settings()
    network = StreetNetwork.for_district(district)
    spec = GridSpec(*district.origin, settings.pipeline.cell_size_m)
    return network, network.index(spec, settings.walk.buffer_m)


def _polylines(index: SegmentIndex) -> list[np.ndarray]:
    """Each street's vertices in the projected plane (streets = segment id // 1000)."""
    street = index.segment_id[index.piece_seg] // 1000
    out = []
    for s in np.unique(street):
        p = np.flatnonzero(street == s)
        out.append(
            np.column_stack(
                [np.r_[index.ax[p[0]], index.bx[p]], np.r_[index.ay[p[0]], index.by[p]]]
            )
        )
    return out


def pings(index: SegmentIndex, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Patrol-like pings (module doc), in walk order."""
    rng = np.random.default_rng(seed)
    lines = _polylines(index)
    walks = []
    for _ in range(-(-n // PER_WALK)):
        line = lines[rng.integers(len(lines))]
        cum = np.r_[0.0, np.cumsum(np.hypot(*np.diff(line, axis=0).T))]
        s = rng.uniform(0, cum[-1]) + rng.choice([-1, 1]) * STEP_M * np.arange(PER_WALK)
        s = np.abs((s + cum[-1]) % (2 * cum[-1]) - cum[-1])  # bounce at the ends
        xy = np.column_stack([np.interp(s, cum, line[:, 0]), np.interp(s, cum, line[:, 1])])
        walks.append(xy + rng.normal(0, NOISE_M, xy.shape))
    xy = np.concatenate(walks)[:n]
    stray = rng.random(n) < STRAY
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    xy[stray] = rng.uniform(lo, hi, (int(stray.sum()), 2))
    return np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])


@pytest.fixture(scope="module")
def points(
    bench_scale: BenchScale, streets: tuple[StreetNetwork, SegmentIndex]
) -> tuple[np.ndarray, np.ndarray]:
    return pings(streets[1], bench_scale.pick(N_PINGS, smoke=SMOKE_PINGS))


def test_street_match_kernel(
    benchmark: Any,
    streets: tuple[StreetNetwork, SegmentIndex],
    points: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = points
    record(benchmark, path="street-match", role=SUBJECT, events=x.shape[0])
    m = benchmark(match_points, streets[1], x, y)
    matched = float((m.segment_id >= 0).mean())
    print(f"\n{matched:.1%} of {x.shape[0]} pings within {streets[1].buffer_m} m of a street")
    assert 0.75 <= matched <= 0.98


def _shapely_lines(shapely: Any, network: StreetNetwork, spec: GridSpec) -> Any:
    lines = []
    for seg in network.segments:
        x, y = project([c[1] for c in seg.coords], [c[0] for c in seg.coords], spec)
        lines.append(shapely.linestrings(x, y))
    return np.array(lines, dtype=object)


def test_street_match_shapely(
    benchmark: Any,
    streets: tuple[StreetNetwork, SegmentIndex],
    points: tuple[np.ndarray, np.ndarray],
) -> None:
    shapely = require_module("shapely")
    network, index = streets
    lines = _shapely_lines(shapely, network, index.spec)
    tree = shapely.STRtree(lines)
    n = min(PEER_PINGS, points[0].shape[0])
    x, y = points[0][:n], points[1][:n]
    record(benchmark, path="street-match", role=peer("shapely-strtree"), events=n)

    def run() -> Any:
        pts = shapely.points(x, y)
        return tree.query_nearest(pts, max_distance=index.buffer_m, all_matches=False)

    (point, line) = benchmark.pedantic(run, rounds=3, iterations=1)
    _check_same_answers(shapely, lines, index, x, y, point, line)


def _check_same_answers(
    shapely: Any,
    lines: Any,
    index: SegmentIndex,
    x: np.ndarray,
    y: np.ndarray,
    point: np.ndarray,
    line: np.ndarray,
) -> None:
    """The peer answers the same question: the same points match, to the same segment or
    to one exactly as near (ties), up to rounding at the buffer's edge."""
    ours = match_points(index, x, y).segment_id
    theirs = np.full(x.shape[0], -1)
    theirs[point] = index.segment_id[line]
    pts = shapely.points(x, y)
    differ = np.flatnonzero(ours != theirs)
    for i in differ:
        d = [
            shapely.distance(pts[i], lines[np.flatnonzero(index.segment_id == s)[0]])
            if s >= 0
            else index.buffer_m
            for s in (ours[i], theirs[i])
        ]
        assert abs(d[0] - d[1]) < 1e-6, (i, ours[i], theirs[i], d)
    assert differ.shape[0] <= 1 + x.shape[0] // 10_000
