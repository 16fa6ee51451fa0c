"""Snapshots, memory bound and capacity limits of the explicit dedup state."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_feeds import SPEC, feeds, run_feed

from kernels import DedupParams, DedupState, dedup_batch, restore, snapshot
from kernels.dedup import StateFullError


@settings(max_examples=60, deadline=None, database=None)
@given(feeds, feeds)
def test_snapshot_restore_mid_stream_continues_identically(
    params: DedupParams, head: list[tuple[str, Any]], tail: list[tuple[str, Any]]
) -> None:
    live = DedupState(SPEC, initial_capacity=2)
    run_feed(head, params, reference=False, state=live)
    blob = snapshot(live)
    copy = restore(blob)
    assert snapshot(copy) == blob
    for name, col in live.columns().items():
        assert np.array_equal(copy.columns()[name], col), name
    # Same continuation (the tail's ids start again at 1: some collide with head cases,
    # i.e. they act as redeliveries, identically in both).
    a = run_feed(tail, params, reference=False, state=live)
    b = run_feed(tail, params, reference=False, state=copy)
    assert a == b
    assert snapshot(live) == snapshot(copy)


def test_restore_rejects_foreign_and_damaged_blobs(params: DedupParams) -> None:
    s = DedupState(SPEC)
    dedup_batch(s, params, [1], [0], [SPEC.origin_lat], [SPEC.origin_lon], [0], [0])
    blob = snapshot(s)
    with pytest.raises(ValueError, match="magic"):
        restore(b"X" + blob[1:])
    with pytest.raises(ValueError, match="does not match"):
        restore(blob[:-1])
    with pytest.raises(ValueError, match="version"):
        restore(blob[:8] + (99).to_bytes(4, "little") + blob[12:])
    with pytest.raises(ValueError, match="too short"):
        restore(b"")


def test_full_state_raises_before_mutating(params: DedupParams) -> None:
    s = DedupState(SPEC, initial_capacity=2, max_capacity=4)
    cols: list[Any] = [
        [1, 2, 3],
        [0] * 3,
        [SPEC.origin_lat] * 3,
        [SPEC.origin_lon] * 3,
        [0, 10**8, 2 * 10**8],
        [0] * 3,
    ]
    dedup_batch(s, params, *cols)
    with pytest.raises(StateFullError):
        dedup_batch(s, params, [4, 5], [0, 0], cols[2][:2], cols[3][:2], [3, 4], [0, 0])
    assert s.n == 3


def test_million_open_cases_fit_in_200_mb() -> None:
    # Room for a million cases, every table sized for a million distinct keys: the most
    # the state can hold for 1 M open cases (no kernel run, so also quick without JIT).
    s = DedupState(SPEC)
    assert s.reserve(1_000_000) == 1_000_000
    assert s.nbytes < 200 * 2**20, s.nbytes / 2**20


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="a million events need the JIT")
def test_million_real_open_cases_fit_in_200_mb(params: DedupParams) -> None:
    n = 1_000_000
    rng = np.random.default_rng(3)
    s = DedupState(SPEC)
    lat = SPEC.origin_lat + rng.uniform(-0.2, 0.2, n)
    lon = SPEC.origin_lon + rng.uniform(-0.2, 0.2, n)
    ids = np.arange(1, n + 1, dtype=np.uint64)
    _, is_new, _ = dedup_batch(
        s,
        params,
        ids,
        np.full(n, 3),
        lat,
        lon,
        np.arange(n, dtype=np.int64) * 1_000_000,
        rng.integers(1, 2**63, n).astype(np.uint64),
    )
    # Events 1000 s apart never merge (window 30 s, max open age 400 s): all stay stored.
    assert s.n == int(is_new.sum()) == n
    assert s.nbytes < 200 * 2**20, s.nbytes / 2**20


@settings(max_examples=20, deadline=None, database=None)
@given(st.integers(1, 3000))
def test_state_grows_by_doubling(n: int) -> None:
    s = DedupState(SPEC, initial_capacity=4)
    s.reserve(n)
    assert s.capacity >= n and s.capacity & (s.capacity - 1) == 0
