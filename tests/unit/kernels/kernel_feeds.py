"""Feeds, parameters and runners shared by the kernel tests (small boxes so matches happen)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from kernels import DedupParams, DedupState, GridSpec, close_cases, dedup_batch, evict
from kernels.reference import ReferenceDedup

SPEC = GridSpec(35.7331, 114.2972, 50.0)


def make_params() -> DedupParams:
    compat = np.eye(4, dtype=bool)
    compat[0, 1] = compat[1, 0] = True
    compat[2, 2] = False  # category 2 never merges
    return DedupParams.build(
        4,
        radius_m=[30.0, 60.0, 0.0, 45.0],  # 60 > cell size 50: needs a wider block
        window_s=[60, 120, 60, 30],
        recurrence_window_s=[300, 300, 300, 100],
        allowed_lateness_s=[100, 200, 100, 50],
        max_open_age_s=[200, 100, 100, 400],
        compat=compat,
    )


# One event: (id salt, category, east m, north m, time step s, lateness s, device). Ids
# are made unique per feed (see ``columns``): a repeated id means a redelivered record,
# which the "redeliver" op produces with identical content.
_event = st.tuples(
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 12).map(lambda v: v * 10.0),
    st.integers(0, 12).map(lambda v: v * 10.0),
    st.integers(0, 90),
    st.sampled_from([0, 0, 0, 30, 150, 400]),
    st.sampled_from([0, 0, 1, 2]),
)
_op = st.one_of(
    st.tuples(st.just("ev"), st.lists(_event, min_size=1, max_size=8)),
    st.tuples(st.just("redeliver"), st.integers(0, 10**6)),
    st.tuples(
        st.just("close"),
        st.lists(st.tuples(st.integers(0, 10**6), st.integers(-200, 200)), max_size=3),
    ),
    st.tuples(st.just("evict"), st.just(None)),
)
feeds = st.lists(_op, min_size=1, max_size=12)


_GOLDEN = 0x9E3779B97F4A7C15


def columns(events: list[tuple[Any, ...]], t0: int, first: int = 1) -> tuple[list[np.ndarray], int]:
    """Event tuples -> the six dedup_batch columns; returns the clock after them.

    Event ``first + i`` gets the unique id ``(first + i) * golden`` mod 2**64 (about half
    of them at or above 2**63, so unsigned tie-breaks are exercised), perturbed by the
    salt in its low bits.
    """
    ids, cats, lat, lon, ts, devs = [], [], [], [], [], []
    clock = t0
    for n, (salt, cat, east, north, step, late, dev) in enumerate(events, start=first):
        clock += step * 1000
        ids.append(((n * _GOLDEN) & (2**64 - 1)) & ~3 | salt or 1)
        cats.append(cat)
        lat.append(SPEC.origin_lat + north / SPEC.ky)
        lon.append(SPEC.origin_lon + east / SPEC.kx)
        ts.append(max(0, clock - late * 1000))
        devs.append(dev)
    cols = [
        np.array(ids, dtype=np.uint64),
        np.array(cats, dtype=np.uint16),
        np.array(lat),
        np.array(lon),
        np.array(ts, dtype=np.int64),
        np.array(devs, dtype=np.uint64),
    ]
    return cols, clock


def run_feed(
    ops: list[tuple[str, Any]],
    params: DedupParams,
    *,
    reference: bool,
    allow_evict: bool = True,
    state: DedupState | None = None,
) -> list[Any]:
    """Apply ops to the kernel (or the reference); return every output, in order."""
    ref = ReferenceDedup(SPEC, params) if reference else None
    stt = state if state is not None else DedupState(SPEC, initial_capacity=2)
    trace: list[Any] = []
    seen: list[list[np.ndarray]] = []
    cases: list[int] = []
    clock = 1_000_000
    for kind, arg in ops:
        if kind in ("ev", "redeliver"):
            if kind == "ev":
                cols, clock = columns(arg, clock, first=1 + sum(len(c[0]) for c in seen))
            elif seen:
                batch = seen[arg % len(seen)]
                cols = [c[:1] for c in batch]
            else:
                continue
            seen.append(cols)
            out = ref.dedup_batch(*cols) if ref else dedup_batch(stt, params, *cols)
            trace.append([list(map(int, o)) for o in out])
            cases.extend(int(c) for c in out[0] if c)
        elif kind == "close" and cases:
            ids = [cases[i % len(cases)] for i, _ in arg]
            when = [max(0, clock + d * 1000) for _, d in arg]
            got = ref.close_cases(ids, when) if ref else close_cases(stt, params, ids, when)
            trace.append(("close", list(map(bool, got))))
        elif kind == "evict" and allow_evict and not ref:
            evict(stt, params)
    return trace
