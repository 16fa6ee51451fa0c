"""Spatio-temporal deduplication of events into cases, over an explicit DedupState.

Rules (the reference in ``kernels.reference`` implements the same, by brute force):

* An event of category ``c`` at time ``t`` is TOO LATE when ``t < max_t - lateness[c]``
  (``max_t``: latest event time seen by the state). It is not processed: its outputs are
  ``case_id = 0`` (``REJECTED``), ``is_new = False``; the caller gives it a case of its own
  outside the state (``streams.dedup.engine``, docs/lateness.md). This bound is what makes
  eviction invisible in the results.
* An event whose ``event_id`` already is a case id is a redelivery of that case's opening
  event: it gets the same outputs as the first time and changes nothing. Event ids must
  therefore identify records (the fused contract's blake2b of source and ref).
* Case ``k`` (case category ``ck``) is LIVE at ``t`` when ``t < closed_t`` and either
  ``|t - last_t| <= window[ck]`` or (``opened_t <= t`` and ``t - last_t <= max_open_age[ck]``).
* Match: first the live compatible cases carrying the event's nonzero ``device_hash``
  (any distance); if none, the live compatible cases within ``radius[ck]`` metres (inclusive)
  in the projected plane. The nearest wins, ties by smaller case id. Joining sets
  ``last_t = max(last_t, t)`` and counts the event.
* Otherwise the event opens case ``event_id``. It is a recurrence of the nearest (then
  smallest id) compatible case within radius with ``closed_t <= t <= closed_t +
  recurrence[ck]``. Categories that can merge with nothing are not stored at all.
* Closing (:func:`close_cases`) applies to stored, open, not yet expired cases (an open case
  is expired once ``W > last_t + max(window, max_open_age)``, ``W = max_t - max lateness``);
  ``closed_t`` is raised to at least ``opened_t``. :func:`evict` drops exactly the cases no
  future accepted event can match or recur, so results never depend on when it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kernels._dedup_kernels import EVENT_ARRAYS, close_kernel, dead_mask, dedup_kernel
from kernels._jit import ngjit
from kernels.grid import F8Array, coerce_latlon
from kernels.params import DedupParams
from kernels.state import M_N_CATEGORIES, NO_TIME, DedupState

__all__ = [
    "MAX_EVENT_TIME_MS",
    "REJECTED",
    "StateFullError",
    "close_cases",
    "dedup_batch",
    "evict",
    "watermark",
]

REJECTED = 0  # case_id given to events beyond the allowed lateness
MAX_EVENT_TIME_MS = 1 << 52  # generous (year 144,000) but far from int64 overflow

U8Array = npt.NDArray[np.uint64]
# Prefetching the next events' table rows pays only once they miss the caches: it costs a
# second hash computation per probe. Measured (docs/benchmarks.md, "The dedup kernel:
# where the time goes"): on the typhoon day, whose state stays near 1.5 MB, the kernel ran
# 2.2x faster without it (then with a costlier, two-stage prefetch); on the stress day
# (~200 MB) it saves about a third (no prefetch ~420, with it ~280 ns per event).
PREFETCH_ABOVE_BYTES = 4 << 20


def watermark(state: DedupState, params: DedupParams) -> int:
    """Lower bound on the time of any event the state will still accept."""
    if state.max_t == NO_TIME:
        return int(NO_TIME)
    return state.max_t - params.max_lateness_ms


# -- wrappers --------------------------------------------------------------------------


class StateFullError(RuntimeError):
    """The state would exceed its max_capacity; evict or raise the capacity."""


def _exact_ints(name: str, a: npt.ArrayLike) -> npt.NDArray[Any]:
    arr = np.asarray(a)
    if arr.dtype.kind in "fO" and not isinstance(a, np.ndarray):
        # numpy turns a list mixing ints >= 2**63 with small ones into float64, losing
        # bits: rebuild such lists exactly.
        flat = np.asarray(a, dtype=object).ravel().tolist()
        if flat and all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
            if min(flat) < 0 or max(flat) >= 2**64:
                raise ValueError(f"{name} must be integers in [0, 2**64)")
            arr = np.array(a, dtype=np.uint64)
    return arr


def _uint64(name: str, a: npt.ArrayLike, m: int | None) -> U8Array:
    arr = _exact_ints(name, a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if m is not None and arr.shape[0] != m:
        raise ValueError(f"{name} has length {arr.shape[0]}, expected {m}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint64)  # an empty list arrives as float64
    if arr.dtype.kind not in "ui":
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative")
    return np.ascontiguousarray(arr, dtype=np.uint64)


def _int_range(name: str, a: npt.ArrayLike, m: int, lo: int, hi: int, dt: Any) -> Any:
    arr = np.asarray(a)
    if arr.shape != (m,):
        raise ValueError(f"{name} must have shape ({m},), got {arr.shape}")
    if m == 0:
        return np.zeros(0, dtype=dt)
    if arr.dtype.kind not in "ui":
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if m and (arr.min() < lo or arr.max() >= hi):
        bad = int(np.flatnonzero((arr < lo) | (arr >= hi))[0])
        raise ValueError(f"{name}[{bad}] = {arr[bad]} is outside [{lo}, {hi})")
    return np.ascontiguousarray(arr, dtype=dt)


@ngjit
def _ids_cats_times_ok(eid, cat, n_cat, t, t_end):
    # One branch-free pass instead of five numpy reductions (``all``, min and max twice).
    ok = True
    for i in range(eid.shape[0]):
        ok &= (eid[i] != 0) & (cat[i] < n_cat) & (t[i] >= 0) & (t[i] < t_end)
    return ok


def _checked_fast(
    eid: U8Array, category: npt.ArrayLike, t_ms: npt.ArrayLike, n_categories: int
) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.int64]] | None:
    """``(category, t_ms)`` when they come in the pipeline's own dtypes and every event
    is valid, else None: the caller then checks column by column and names what is wrong.
    """
    if not (isinstance(category, np.ndarray) and isinstance(t_ms, np.ndarray)):
        return None
    if category.dtype != np.uint16 or t_ms.dtype != np.int64:
        return None
    m = eid.shape[0]
    if category.shape != (m,) or t_ms.shape != (m,):
        return None
    cat = np.ascontiguousarray(category)
    t = np.ascontiguousarray(t_ms)
    if not _ids_cats_times_ok(eid, cat, n_categories, t, MAX_EVENT_TIME_MS):
        return None
    return cat, t


def _checked_events(
    params: DedupParams,
    event_id: npt.ArrayLike,
    category: npt.ArrayLike,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    t_ms: npt.ArrayLike,
    device_hash: npt.ArrayLike,
) -> tuple[U8Array, npt.NDArray[np.uint16], npt.NDArray[np.int64], F8Array, F8Array, U8Array]:
    """The batch's columns as the kernel takes them, each checked (ValueError otherwise)."""
    eid = _uint64("event_id", event_id, None)
    m = eid.shape[0]
    checked = _checked_fast(eid, category, t_ms, params.n_categories)
    if checked is None:
        if m and not eid.all():
            raise ValueError(f"event_id 0 is reserved (index {int(np.argmin(eid))})")
        cat = _int_range("category", category, m, 0, params.n_categories, np.uint16)
        t = _int_range("t_ms", t_ms, m, 0, MAX_EVENT_TIME_MS, np.int64)
    else:
        cat, t = checked
    la, lo = coerce_latlon(lat, lon)
    if la.shape[0] != m:
        raise ValueError(f"lat/lon have length {la.shape[0]}, expected {m}")
    return eid, cat, t, la, lo, _uint64("device_hash", device_hash, m)


def dedup_batch(
    state: DedupState,
    params: DedupParams,
    event_id: npt.ArrayLike,
    category: npt.ArrayLike,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    t_ms: npt.ArrayLike,
    device_hash: npt.ArrayLike,
) -> tuple[U8Array, npt.NDArray[np.bool_], U8Array]:
    """Assign every event (in the given order) to a case; mutates ``state``.

    Returns ``(case_id, is_new, recurrence_of)``; ``case_id == REJECTED`` marks events
    beyond the allowed lateness. Raises ValueError on bad input (nothing mutated).
    """
    eid, cat, t, la, lo, dev = _checked_events(
        params, event_id, category, lat, lon, t_ms, device_hash
    )
    m = eid.shape[0]
    if int(state.meta[M_N_CATEGORIES]) > params.n_categories:
        raise ValueError(
            f"state holds category {int(state.meta[M_N_CATEGORIES]) - 1} but params cover only "
            f"{params.n_categories} categories"
        )
    if state.n + m > state.max_capacity:
        raise StateFullError(
            f"{state.n} cases + {m} events may exceed max_capacity {state.max_capacity}"
        )
    # Spatial buckets of a category: twice its radius (a search is at most 2 x 2 buckets),
    # never finer than a grid cell (few, well-filled lists for small radii).
    state.use_buckets(1.0 / np.maximum(2.0 * params.radius_m, state.spec.cell_size_m))
    state.reserve(m)
    out_case = np.zeros(m, dtype=np.uint64)
    out_new = np.zeros(m, dtype=np.bool_)
    out_rec = np.zeros(m, dtype=np.uint64)
    ev = {
        "event_id": eid,
        "event_id_i8": eid.view(np.int64),
        "category": cat,
        "lat": la,
        "lon": lo,
        "t_ms": t,
        "device_hash": dev,
        "device_hash_i8": dev.view(np.int64),
    }
    dedup_kernel(
        tuple(ev[name] for name in EVENT_ARRAYS),
        (out_case, out_new, out_rec),
        state.spec.kernel_args(),
        params.kernel_args(),
        *state.kernel_args(),
        state.nbytes > PREFETCH_ABOVE_BYTES,
    )
    return out_case, out_new, out_rec


def close_cases(
    state: DedupState, params: DedupParams, case_ids: npt.ArrayLike, closed_t: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    """Close cases at the given times; returns which closes took effect (see module doc)."""
    ids = _uint64("case_ids", case_ids, None)
    when = _int_range("closed_t", closed_t, ids.shape[0], 0, MAX_EVENT_TIME_MS, np.int64)
    applied = np.zeros(ids.shape[0], dtype=np.bool_)
    cols, idx, _ = state.kernel_args()
    w = watermark(state, params)
    close_kernel(ids.view(np.int64), when, w, cols, idx, params.kernel_args(), applied)
    return applied


def evict(state: DedupState, params: DedupParams, watermark_ms: int | None = None) -> int:
    """Drop cases no future accepted event can match or recur; return how many.

    ``watermark_ms`` may only lower the state's own bound (``watermark``), never raise it:
    a larger value is clamped, so an eager caller cannot change results.
    """
    w = watermark(state, params)
    if watermark_ms is not None:
        w = min(w, int(watermark_ms))
    n = state.n
    if n == 0 or w == NO_TIME:
        return 0
    dead = np.zeros(n, dtype=np.bool_)
    dead_mask(n, w, state.kernel_args()[0], params.kernel_args(), dead)
    n_dead = int(dead.sum())
    if n_dead:
        state.keep(~dead)
    return n_dead
