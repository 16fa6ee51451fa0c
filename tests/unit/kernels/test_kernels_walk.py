"""Streets walked from tracks: kernel == pure-Python reference on the qibin network; the
walking rule's cases; bad input."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from walk_feeds import (
    BUFFER_M,
    PARAMS,
    Points,
    along_pieces,
    draw_points,
    frame,
    lonely_piece,
    qibin_index,
    street_pieces,
    tracks,
)

from kernels import (
    GridSpec,
    SegmentIndex,
    WalkParams,
    Walks,
    match_points,
    walk,
    walk_tracks,
    warmup,
)
from kernels.reference import ref_match_points, ref_walk_tracks


@pytest.fixture(scope="module")
def index() -> SegmentIndex:
    return qibin_index()


def _run(index: SegmentIndex, pts: Points, params: WalkParams = PARAMS) -> Walks:
    return walk_tracks(index, params, *pts.columns())


def _visits(w: Walks) -> list[tuple[int, int, int, int, int, float]]:
    cols = (w.visit_track, w.visit_segment_id, w.visit_t_start_ms, w.visit_t_end_ms)
    return [
        (*(int(c[i]) for c in cols), int(w.visit_points[i]), float(w.visit_metres[i]))
        for i in range(w.n_visits)
    ]


def _assert_matches_reference(index: SegmentIndex, pts: Points) -> Walks:
    got = _run(index, pts)
    seg, visit, visits = ref_walk_tracks(index, PARAMS, *(c.tolist() for c in pts.columns()))
    assert got.segment_id.tolist() == seg
    assert got.visit.tolist() == visit
    assert _visits(got) == visits  # metres bit for bit
    along = [a for _, a in ref_match_points(index, pts.x.tolist(), pts.y.tolist())]
    np.testing.assert_array_equal(match_points(index, pts.x, pts.y).along_m, along)
    return got


@settings(max_examples=40, deadline=None, database=None)
@given(tracks)
def test_kernel_matches_reference(index: SegmentIndex, specs: list[Any]) -> None:
    _assert_matches_reference(index, draw_points(index, specs))


def test_random_tracks_exercise_every_outcome(index: SegmentIndex) -> None:
    # Guards the property test above against a generator that never visits or crosses.
    rng = np.random.default_rng(11)
    specs = [
        (
            int(rng.integers(0, 10**6)),
            float(rng.random()),
            float(rng.choice([0.0, 90.0, 30.0])),
            float(rng.choice([1.5, 4.0, 15.0])),
            float(rng.choice([0.0, 6.0])),
            [int(v) for v in rng.choice([1, 5, 10, 130], size=30)],
            int(rng.integers(0, 2**32)),
        )
        for _ in range(12)
    ]
    got = _assert_matches_reference(index, draw_points(index, specs))
    assert got.n_visits >= 3
    matched = got.segment_id >= 0
    assert (matched & (got.visit < 0)).any()  # runs that are no visit
    assert (~matched).any()  # points beyond every buffer
    assert len(set(got.visit_track.tolist())) >= 3


def test_empty_input_and_one_point(index: SegmentIndex) -> None:
    none = np.array([], dtype=np.int64)
    w = walk_tracks(index, PARAMS, none, none, [], [])
    assert w.n_visits == 0 and w.segment_id.shape == (0,) and w.visit.shape == (0,)
    assert match_points(index, [], []).segment_id.shape == (0,)
    mid, _, _ = frame(index, lonely_piece(index))
    one = walk_tracks(index, PARAMS, [7], [1000], [mid[0]], [mid[1]])
    assert one.segment_id[0] >= 0 and one.visit.tolist() == [-1] and one.n_visits == 0


def test_the_buffer_is_inclusive_and_nothing_beyond_matches(index: SegmentIndex) -> None:
    p = lonely_piece(index)
    mid, _, across = frame(index, p)
    own = int(index.segment_id[index.piece_seg[p]])
    offsets = np.array([0.0, 10.0, -24.99, 24.99, 25.01, -25.01, 400.0])
    xy = mid + offsets[:, None] * across
    m = match_points(index, xy[:, 0], xy[:, 1])
    assert m.segment_id.tolist() == [own] * 4 + [-1] * 3
    assert np.isnan(m.along_m[4:]).all()
    assert abs(m.along_m[0] - m.along_m[3]) < 1e-6  # across the street: same position
    far = match_points(index, [1e6, -1e6], [0.0, 1e6])  # outside the bucket grid
    assert far.segment_id.tolist() == [-1, -1]


def _line(mid: np.ndarray, u: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xy = mid + s[:, None] * u
    return xy[:, 0], xy[:, 1]


def test_crossing_a_street_is_not_walking_it(index: SegmentIndex) -> None:
    mid, along, across = frame(index, lonely_piece(index))
    s = np.arange(-60.0, 61.0, 6.5)  # 1.3 m/s, a ping every 5 s
    x, y = _line(mid, across, s)
    rng = np.random.default_rng(3)
    x, y = x + rng.normal(0, 4, x.shape), y + rng.normal(0, 4, y.shape)
    t = np.arange(s.shape[0]) * 5000
    w = walk_tracks(index, PARAMS, np.zeros_like(t), t, x, y)
    assert (w.segment_id >= 0).sum() >= 6  # it did pass through the buffer
    assert w.n_visits == 0 and (w.visit == -1).all()
    # the same points along the street are a visit
    x, y = _line(mid, along, s[(s > -45) & (s < 45)])
    t = np.arange(x.shape[0]) * 5000
    assert walk_tracks(index, PARAMS, np.zeros_like(t), t, x, y).n_visits == 1


def test_walking_a_street_end_to_end_gives_its_length(index: SegmentIndex) -> None:
    pieces = street_pieces(index, 1000)  # 淮河路, street 1
    xy = along_pieces(index, pieces, 2.0)
    t = np.arange(xy.shape[0]) * 1500  # 2 m every 1.5 s
    w = walk_tracks(index, PARAMS, np.zeros_like(t), t, xy[:, 0], xy[:, 1])
    segments = sorted({int(index.segment_id[index.piece_seg[p]]) for p in pieces})
    assert w.visit_segment_id.tolist() == segments  # each once, in order
    length = float(index.length_m[np.isin(index.segment_id, segments)].sum())
    walked = float(w.visit_metres.sum())
    assert length - 2.0 * len(segments) <= walked <= length + 1e-6
    per_segment = dict(zip(index.segment_id.tolist(), index.length_m.tolist(), strict=True))
    for sid, metres in zip(w.visit_segment_id.tolist(), w.visit_metres.tolist(), strict=True):
        assert per_segment[sid] - 2.0 <= metres <= per_segment[sid] + 1e-9
    assert (w.visit >= 0).all()


def test_a_gap_in_time_splits_a_visit(index: SegmentIndex) -> None:
    mid, along, _ = frame(index, lonely_piece(index))
    x, y = _line(mid, along, np.linspace(-40.0, 40.0, 33))
    t = np.arange(33) * 5000
    whole = walk_tracks(index, PARAMS, np.zeros(33, dtype=np.int64), t, x, y)
    assert whole.n_visits == 1 and whole.visit_metres[0] == pytest.approx(80.0)
    late = t + np.where(np.arange(33) >= 16, 120_001 - 5000, 0)  # a 120.001 s silence
    split = walk_tracks(index, PARAMS, np.zeros(33, dtype=np.int64), late, x, y)
    assert split.n_visits == 2
    assert split.visit_metres.tolist() == pytest.approx([37.5, 40.0])
    assert split.visit_t_start_ms[1] - split.visit_t_end_ms[0] == 120_001
    at_limit = t + np.where(np.arange(33) >= 16, 120_000 - 5000, 0)  # exactly the max gap
    assert walk_tracks(index, PARAMS, np.zeros(33, dtype=np.int64), at_limit, x, y).n_visits == 1
    # another track is another walker: the same points split there too
    two = walk_tracks(index, PARAMS, (np.arange(33) >= 16).astype(np.int64), t, x, y)
    assert two.visit_track.tolist() == [0, 1]


def test_dwelling_on_a_street_is_a_visit(index: SegmentIndex) -> None:
    mid, _, across = frame(index, lonely_piece(index))
    rng = np.random.default_rng(5)
    n = 37  # every 5 s: 180 s
    xy = mid + 6.0 * across + rng.normal(0, 3, (n, 2))
    t = np.arange(n) * 5000
    stay = walk_tracks(index, PARAMS, np.zeros(n, dtype=np.int64), t, xy[:, 0], xy[:, 1])
    assert stay.n_visits == 1 and stay.visit_metres[0] < 20.0
    assert stay.visit_t_end_ms[0] - stay.visit_t_start_ms[0] == 180_000
    head = xy[:-1]  # 175 s
    short = walk_tracks(index, PARAMS, np.zeros(n - 1, dtype=np.int64), t[:-1], *head.T)
    assert short.n_visits == 0


def _tiny(length_m: float) -> SegmentIndex:
    """One east-west segment of ``length_m`` at the origin of its own grid."""
    spec = GridSpec(35.7, 114.3)
    lon = [114.3, 114.3 + length_m / spec.kx]
    return SegmentIndex.build(spec, [5], [0, 2], [35.7, 35.7], lon, buffer_m=BUFFER_M)


def test_a_short_segment_needs_only_part_of_its_length() -> None:
    index = _tiny(20.0)  # needs min(30 m, 0.5 x 20 m) = 10 m
    x = np.array([4.0, 9.0, 14.5])
    w = walk_tracks(index, PARAMS, [0, 0, 0], [0, 4000, 8000], x, [1.0, -2.0, 0.5])
    assert w.visit_segment_id.tolist() == [5] and w.visit_metres[0] == pytest.approx(10.5)
    assert walk_tracks(index, PARAMS, [0, 0], [0, 4000], x[:2], [0.0, 0.0]).n_visits == 0


@pytest.mark.parametrize(
    ("change", "msg"),
    [
        (dict(x=[1.0, 2.0]), "shape"),
        (dict(track=[0.0, 0.0, 0.0]), "integers"),
        (dict(t_ms=[0, -1, 5]), r"t_ms\[1\] = -1"),
        (dict(track=np.array([0, 0, 2**63], dtype=np.uint64)), r"track\[2\] = 9223372036854775808"),
        (dict(track=[1, 0, 1]), "sorted by track"),
        (dict(t_ms=[5, 4, 6]), "sorted by time"),
        (dict(y=[0.0, float("nan"), 1.0]), r"y\[1\] is not finite"),
        (dict(x=[[1.0, 2.0, 3.0]]), "1-D"),
        (dict(x=["a", "b", "c"]), "numbers"),
    ],
)
def test_bad_points_raise(change: dict[str, Any], msg: str) -> None:
    cols = dict(track=[0, 0, 1], t_ms=[5, 6, 1], x=[0.0, 1.0, 2.0], y=[0.0, 1.0, 2.0])
    cols.update(change)
    with pytest.raises(ValueError, match=msg):
        walk_tracks(_tiny(50.0), PARAMS, cols["track"], cols["t_ms"], cols["x"], cols["y"])


@pytest.mark.parametrize(
    ("change", "msg"),
    [
        (dict(min_along_m=0.0), "min_along_m"),
        (dict(min_share=1.5), "min_share"),
        (dict(min_dwell_s=float("nan")), "min_dwell_s"),
        (dict(max_gap_s=-1.0), "max_gap_s"),
    ],
)
def test_bad_params_raise(change: dict[str, float], msg: str) -> None:
    args = dict(min_along_m=30.0, min_share=0.5, min_dwell_s=180.0, max_gap_s=120.0)
    with pytest.raises(ValueError, match=msg):
        WalkParams.build(**{**args, **change})


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (dict(segment_id=[5, 5]), "duplicate segment_id 5"),
        (dict(segment_id=[-1, 2]), ">= 0"),
        (dict(segment_id=[]), "no segments"),
        (dict(vert_ptr=[0, 1, 4]), "fewer than 2 vertices"),
        (dict(vert_ptr=[0, 2, 3]), "vert_ptr"),
        (dict(lat=[35.7] * 4, lon=[114.3, 114.3, 114.3, 114.4]), "segment 1 has zero length"),
        (dict(buffer_m=0.0), "buffer_m"),
        (dict(bucket_m=0.5), "bucket_m"),
        (dict(lat=[35.7, 95.0, 35.7, 35.7]), "out of range"),
    ],
)
def test_bad_segments_raise(args: dict[str, Any], msg: str) -> None:
    build: dict[str, Any] = dict(
        segment_id=[1, 2],
        vert_ptr=[0, 2, 4],
        lat=[35.7, 35.7, 35.7, 35.701],
        lon=[114.3, 114.301, 114.3, 114.3],
        buffer_m=25.0,
        bucket_m=None,
    )
    build.update(args)
    seg_id, ptr, lat, lon = (build.pop(k) for k in ("segment_id", "vert_ptr", "lat", "lon"))
    with pytest.raises(ValueError, match=msg):
        SegmentIndex.build(GridSpec(35.7, 114.3), seg_id, ptr, lat, lon, **build)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="signatures exist only when compiled")
def test_warmup_compiles_the_one_signature_real_calls_use(index: SegmentIndex) -> None:
    warmup()
    kernels = (walk.match_kernel, walk.runs_kernel)
    assert [len(k.signatures) for k in kernels] == [1, 1]
    pts = draw_points(index, [(5, 0.5, 0.0, 4.0, 3.0, [5] * 30, 1)])
    _run(index, pts)
    match_points(index, pts.x.tolist(), pts.y.tolist())  # lists are coerced alike
    assert [len(k.signatures) for k in kernels] == [1, 1]
