"""Dedup kernel == brute-force reference, whatever the batching and eviction; boundaries."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_feeds import SPEC, columns, feeds, run_feed

from kernels import (
    REJECTED,
    DedupParams,
    DedupState,
    GridSpec,
    _dedup_kernels,
    close_cases,
    dedup_batch,
    evict,
)
from kernels import dedup as dedup_module
from kernels.reference import ReferenceDedup
from kernels.state import bucket_key


@settings(max_examples=300, deadline=None, database=None)
@given(feeds)
def test_kernel_matches_reference(params: DedupParams, ops: list[tuple[str, Any]]) -> None:
    assert run_feed(ops, params, reference=False) == run_feed(ops, params, reference=True)


@settings(max_examples=100, deadline=None, database=None)
@given(feeds)
def test_prefetching_changes_nothing(params: DedupParams, ops: list[tuple[str, Any]]) -> None:
    # Test states are far below the size where the kernel starts prefetching: force it on,
    # in one batch long enough for its probes to run (they look AHEAD events ahead), and
    # not a single result may move.
    events = _flatten(ops)
    if not events:
        return
    while len(events) <= 2 * _dedup_kernels.AHEAD:
        events = events * 2  # each copy gets fresh ids (see ``columns``)
    feed: list[tuple[str, Any]] = [("ev", events)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dedup_module, "PREFETCH_ABOVE_BYTES", -1)
        warm = run_feed(feed, params, reference=False)
    assert warm == run_feed(feed, params, reference=True)


def _flatten(ops: list[tuple[str, Any]]) -> list[Any]:
    return [e for kind, arg in ops if kind == "ev" for e in arg]


@settings(max_examples=60, deadline=None, database=None)
@given(feeds, st.data())
def test_batch_cuts_and_eviction_do_not_change_results(
    params: DedupParams, ops: list[tuple[str, Any]], data: st.DataObject
) -> None:
    events = _flatten(ops)
    if not events:
        return
    whole = run_feed([("ev", events)], params, reference=False, allow_evict=False)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=6)))
    pieces: list[tuple[str, Any]] = []
    prev = 0
    for cut in [*cuts, len(events)]:
        if cut > prev:
            pieces.append(("ev", events[prev:cut]))
            if data.draw(st.booleans()):
                pieces.append(("evict", None))
        prev = cut
    split = run_feed(pieces, params, reference=False)
    flat = [list(itertools.chain.from_iterable(t[k] for t in split)) for k in range(3)]
    assert flat == whole[0]


def test_random_feeds_exercise_every_outcome(params: DedupParams) -> None:
    # Guards the property tests above against a generator that never merges or recurs.
    rng = np.random.default_rng(5)
    ops: list[tuple[str, Any]] = []
    for _ in range(60):
        evs = [
            (
                int(rng.integers(1, 2**63)),
                int(rng.integers(0, 4)),
                float(rng.integers(0, 8)) * 10,
                float(rng.integers(0, 8)) * 10,
                int(rng.integers(0, 60)),
                int(rng.choice([0, 0, 150, 400])),
                int(rng.choice([0, 1, 2])),
            )
            for _ in range(5)
        ]
        ops += [("ev", evs), ("close", [(int(rng.integers(0, 999)), 0)]), ("evict", None)]
    trace = run_feed(ops, params, reference=False)
    assert trace == run_feed(ops, params, reference=True)
    outs = [t for t in trace if not (isinstance(t, tuple) and t[0] == "close")]
    case = [c for t in outs for c in t[0]]
    new = [n for t in outs for n in t[1]]
    rec = [r for t in outs for r in t[2]]
    assert case.count(REJECTED) > 0 and 0 < sum(new) < len(new) and any(rec)


# -- exact boundaries ------------------------------------------------------------------


def _one(
    state: DedupState,
    params: DedupParams,
    eid: int,
    cat: int,
    lat: float,
    lon: float,
    t: int,
    dev: int = 0,
) -> tuple[int, bool, int]:
    c, n, r = dedup_batch(state, params, [eid], [cat], [lat], [lon], [t], [dev])
    return int(c[0]), bool(n[0]), int(r[0])


def _params(radius: float, **kw: Any) -> DedupParams:
    base = dict(window_s=60, recurrence_window_s=600, allowed_lateness_s=3600, max_open_age_s=0)
    base.update(kw)
    return DedupParams.build(1, radius_m=radius, **base)


def _d(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance exactly as the kernel computes it."""
    dx = (lon2 - SPEC.origin_lon) * SPEC.kx - (lon1 - SPEC.origin_lon) * SPEC.kx
    dy = (lat2 - SPEC.origin_lat) * SPEC.ky - (lat1 - SPEC.origin_lat) * SPEC.ky
    return float(np.sqrt(dx * dx + dy * dy))


@pytest.mark.parametrize("east_m", [30.0, 49.999, 50.0, 100.0, 137.0])
def test_distance_exactly_at_radius_merges_and_just_beyond_does_not(east_m: float) -> None:
    lat0, lon0 = SPEC.origin_lat, SPEC.origin_lon - 7.0 / SPEC.kx  # near a cell border
    lon1 = lon0 + east_m / SPEC.kx
    d = _d(lat0, lon0, lat0, lon1)
    for radius, merges in [(d, True), (float(np.nextafter(d, 0.0)), False)]:
        p = _params(radius)
        s = DedupState(SPEC)
        assert _one(s, p, 1, 0, lat0, lon0, 1000) == (1, True, 0)
        assert _one(s, p, 2, 0, lat0, lon1, 2000) == ((1, False, 0) if merges else (2, True, 0))


def test_time_exactly_at_window_edge() -> None:
    p = _params(50.0, window_s=60)
    for dt, merges in [(60_000, True), (60_001, False), (-60_000, True), (-60_001, False)]:
        s = DedupState(SPEC)
        base = 10_000_000
        _one(s, p, 1, 0, SPEC.origin_lat, SPEC.origin_lon, base)
        got = _one(s, p, 2, 0, SPEC.origin_lat, SPEC.origin_lon, base + dt)
        assert got == ((1, False, 0) if merges else (2, True, 0)), dt


def test_open_case_keeps_matching_until_max_open_age_then_stops() -> None:
    p = _params(50.0, window_s=10, max_open_age_s=100)
    s = DedupState(SPEC)
    _one(s, p, 1, 0, SPEC.origin_lat, SPEC.origin_lon, 0)
    assert _one(s, p, 2, 0, SPEC.origin_lat, SPEC.origin_lon, 100_000)[0] == 1  # age edge
    assert _one(s, p, 3, 0, SPEC.origin_lat, SPEC.origin_lon, 200_001)[0] == 3  # stale
    assert close_cases(s, p, [3], [250_000]).tolist() == [True]
    # After closing: no join, but a recurrence within the recurrence window.
    assert _one(s, p, 4, 0, SPEC.origin_lat, SPEC.origin_lon, 250_000) == (4, True, 3)


def test_device_id_matches_beyond_radius_before_distance() -> None:
    p = _params(20.0)
    s = DedupState(SPEC)
    far = SPEC.origin_lat + 500.0 / SPEC.ky
    _one(s, p, 1, 0, SPEC.origin_lat, SPEC.origin_lon, 0, dev=77)
    _one(s, p, 2, 0, far, SPEC.origin_lon, 0)  # a case right where the next event is
    assert _one(s, p, 3, 0, far, SPEC.origin_lon, 1000, dev=77)[0] == 1  # id beats distance
    assert _one(s, p, 4, 0, far, SPEC.origin_lon, 1000, dev=78)[0] == 2  # other id: distance


def test_nearest_wins_and_ties_break_by_smaller_unsigned_id() -> None:
    p = _params(100.0)
    s = DedupState(SPEC)
    big, small = 2**63 + 5, 9  # as int64 the big id would be negative
    e = SPEC.origin_lon + 40.0 / SPEC.kx
    w = SPEC.origin_lon - 40.0 / SPEC.kx
    # Two cases 80 m apart (each outside the other's... no: radius 100 merges; use time).
    _one(s, p, big, 0, SPEC.origin_lat, e, 0)
    _one(s, p, small, 0, SPEC.origin_lat, w, 70_000)  # outside big's window: own case
    mid = SPEC.origin_lon + (e - SPEC.origin_lon + w - SPEC.origin_lon) / 2
    assert _one(s, p, 3, 0, SPEC.origin_lat, w + 1.0 / SPEC.kx, 65_000)[0] == small  # nearest
    got = _one(s, p, 4, 0, SPEC.origin_lat, mid, 66_000)
    d_big = _d(SPEC.origin_lat, mid, SPEC.origin_lat, e)
    d_small = _d(SPEC.origin_lat, mid, SPEC.origin_lat, w)
    assert got[0] == (small if d_small <= d_big else big)


def test_too_late_events_are_rejected_and_change_nothing() -> None:
    p = _params(50.0, allowed_lateness_s=60)
    s = DedupState(SPEC)
    _one(s, p, 1, 0, SPEC.origin_lat, SPEC.origin_lon, 1_000_000)
    assert _one(s, p, 2, 0, SPEC.origin_lat, SPEC.origin_lon, 1_000_000 - 60_000)[0] == 1
    assert _one(s, p, 3, 0, SPEC.origin_lat, SPEC.origin_lon, 1_000_000 - 60_001) == (0, False, 0)
    assert s.n == 1


def test_redelivered_opening_event_gets_its_first_answer() -> None:
    p = _params(50.0)
    s = DedupState(SPEC)
    first = _one(s, p, 11, 0, SPEC.origin_lat, SPEC.origin_lon, 5000)
    _one(s, p, 12, 0, SPEC.origin_lat, SPEC.origin_lon, 6000)
    n_events = int(s.columns()["n_events"][0])
    assert _one(s, p, 11, 0, SPEC.origin_lat, SPEC.origin_lon, 5000) == first
    assert int(s.columns()["n_events"][0]) == n_events


def test_eviction_reclaims_memory_and_keeps_live_cases(params: DedupParams) -> None:
    s = DedupState(SPEC, initial_capacity=16)
    n = 4000
    cols, _ = columns(
        [(0, 0, float(i % 50) * 200, float(i // 50) * 200, 0, 0, 0) for i in range(n)], 0
    )
    dedup_batch(s, params, *cols)
    big = s.nbytes
    assert s.n == n
    assert evict(s, params) == 0  # everything still reachable
    later = [
        np.array([10**9]),
        np.array([0]),
        *(c[:1] for c in cols[2:4]),
        np.array([10**8]),
        np.array([0]),
    ]
    dedup_batch(s, params, *later)
    assert evict(s, params) == n and s.n == 1
    assert s.nbytes < big / 10
    assert evict(s, params, watermark_ms=0) == 0


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "msg"),
    [
        (0, [0], "reserved"),
        (0, [-1], "non-negative"),
        (0, [1.5], "integer"),
        (1, [9], "outside"),
        (2, [np.nan], "NaN or out of range"),
        (4, [-5], "outside"),
        (4, [1, 2], "shape"),
        (5, [[1]], "1-D"),
    ],
)
def test_bad_batches_raise_before_touching_state(
    params: DedupParams, field: int, value: list[Any], msg: str
) -> None:
    cols: list[Any] = [[1], [0], [SPEC.origin_lat], [SPEC.origin_lon], [10], [0]]
    cols[field] = value
    s = DedupState(SPEC)
    with pytest.raises(ValueError, match=msg):
        dedup_batch(s, params, *cols)
    assert s.n == 0 and s.max_t == np.iinfo(np.int64).min


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        (dict(radius_m=-1.0), "radius_m"),
        (dict(window_s=[1, 2, 3]), "shape"),
        (dict(compat=np.ones((2, 2), dtype=bool), radius_m=[1.0, 0.0]), "compat"),
        (dict(compat=np.array([[True, True], [False, True]])), "symmetric"),
        (dict(compat=np.eye(2)), "boolean"),
        (dict(max_open_age_s=float("inf")), "max_open_age_s"),
    ],
)
def test_bad_params_raise(kw: dict[str, Any], msg: str) -> None:
    base: dict[str, Any] = dict(
        radius_m=10.0, window_s=1, recurrence_window_s=1, allowed_lateness_s=1, max_open_age_s=1
    )
    base.update(kw)
    with pytest.raises(ValueError, match=msg):
        DedupParams.build(2, **base)


def test_reference_rejects_nothing_the_kernel_accepts(params: DedupParams) -> None:
    # Sanity of the twin itself: an isolated event opens its own case in both.
    ref = ReferenceDedup(SPEC, params)
    assert ref.process(5, 0, SPEC.origin_lat, SPEC.origin_lon, 0, 0) == (5, True, 0)


# -- layout details that must not change results ------------------------------------------


def test_colliding_bucket_keys_change_nothing() -> None:
    # Spatial list keys mix the category into the packed bucket id and may collide for
    # buckets 2**15 apart (see kernels.state.bucket_key): build exactly such a collision.
    spec = GridSpec(SPEC.origin_lat, SPEC.origin_lon, 1.0)
    compat = np.ones((2, 2), dtype=bool)
    p = DedupParams.build(
        2,
        radius_m=0.4,
        window_s=60,
        recurrence_window_s=60,
        allowed_lateness_s=60,
        max_open_age_s=60,
        compat=compat,
    )
    inv = np.full(2, 1.0)  # buckets of max(2 * 0.4, 1.0) m, as dedup_batch chooses
    far = 2.0**15  # bucket columns 0 and 2**15 differ in bit 15 only
    assert bucket_key(0.5, 0.5, 1, inv) == bucket_key(far + 0.5, 0.5, 0, inv)
    lon = [spec.origin_lon + v / spec.kx for v in (0.5, far + 0.5, far + 0.6, 0.6)]
    cols = [
        np.array([11, 12, 13, 14], dtype=np.uint64),
        np.array([1, 1, 0, 0]),
        np.full(4, spec.origin_lat + 0.5 / spec.ky),
        np.array(lon),
        np.array([0, 1000, 2000, 3000]),
        np.zeros(4, dtype=np.uint64),
    ]
    got = dedup_batch(DedupState(spec), p, *cols)
    want = ReferenceDedup(spec, p).dedup_batch(*cols)
    assert [list(map(int, g)) for g in got] == [list(map(int, w)) for w in want]
    assert got[0].tolist() == [11, 12, 12, 11]  # each joins its neighbour, not its twin


def test_compatible_categories_are_listed_per_event_category(params: DedupParams) -> None:
    for a in range(params.n_categories):
        listed = params.compat_idx[params.compat_ptr[a] : params.compat_ptr[a + 1]]
        assert listed.tolist() == np.flatnonzero(params.compat[a]).tolist()
