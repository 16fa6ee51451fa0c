"""The numba loops behind ``kernels.dedup`` (semantics are documented there).

Arguments travel as tuples so signatures stay short, each read through named positions
(module-level ints, which numba freezes as the compile-time constants a tuple of
differently typed arrays needs): ``ev`` = the batch's arrays in ``EVENT_ARRAYS`` order
(``E_*``), ``out`` = (case id, is new, recurrence of), ``grid`` = ``GridSpec.kernel_args()``
(``G_*``), ``prm`` = ``DedupParams.kernel_args()`` (``P_*``), and from
``DedupState.kernel_args()`` ``cols`` = the case columns (``C_*``), ``idx`` = the index
arrays (``I_*``; tables: see ``kernels._hashtab``, the spatial table is keyed by
``state.bucket_key``) and ``meta`` (``M_*``).

Where the time goes, measured: the top-level kernels are ``norc`` (no reference counting,
see ``kernels._jit``), which alone made them about 5x faster. The rest is memory: a
candidate case is one 64-byte row (``state.HOT``), a table probe is one line, a spatial
list holds one category (an event walks only the categories it may join, over at most
2 x 2 buckets sized from the case category's radius), and, once the state outgrows the
caches (``warm``, see ``kernels.dedup.PREFETCH_ABOVE_BYTES``), the table rows event
``i + AHEAD`` will probe are prefetched while event ``i`` is processed. Measurements,
before and after: docs/benchmarks.md, "The dedup kernel: where the time goes".
"""

from __future__ import annotations

import numpy as np

from kernels._hashtab import END, KEY, VALUE, table_find, table_home, table_link, table_slot
from kernels._jit import inline, norc, prefetch
from kernels.grid import CELL_OFFSET, G_INV_CELL, G_KX, G_KY, G_ORIGIN_LAT, G_ORIGIN_LON
from kernels.params import (
    P_COMPAT,
    P_COMPAT_IDX,
    P_COMPAT_PTR,
    P_LATENESS_MS,
    P_MAX_OPEN_AGE_MS,
    P_RADIUS_M,
    P_RECURRENCE_MS,
    P_SEARCH_RADIUS_M,
    P_WINDOW_MS,
)
from kernels.state import (
    C_CASE_ID,
    C_CATEGORY,
    C_CELL,
    C_CLOSED_T,
    C_DEVICE_HASH,
    C_LAST_T,
    C_N_EVENTS,
    C_OPENED_T,
    C_RECURRENCE_OF,
    C_X,
    C_Y,
    I_BUCKET_INV,
    I_CELL_TAB,
    I_DEV_TAB,
    I_ID_TAB,
    I_NEXT_IN_CELL,
    I_NEXT_IN_DEVICE,
    M_MAX_T,
    M_N_CASES,
    M_N_CATEGORIES,
    M_N_CELL_KEYS,
    M_N_DEVICE_KEYS,
    NO_TIME,
    OPEN,
    bucket_key,
    pack_bucket,
)

__all__ = [
    "EVENT_ARRAYS",
    "E_CATEGORY",
    "E_DEVICE_HASH",
    "E_DEVICE_HASH_I8",
    "E_EVENT_ID",
    "E_EVENT_ID_I8",
    "E_LAT",
    "E_LON",
    "E_T_MS",
    "close_kernel",
    "dead_mask",
    "dedup_kernel",
]

AHEAD = 16  # events between a prefetch and its use: enough to hide one memory latency

# The batch as ``dedup_kernel`` takes it (``ev``), in this order; the ``_i8`` arrays are
# int64 views of the uint64 ids, the type of the table keys.
EVENT_ARRAYS = (
    "event_id",
    "event_id_i8",
    "category",
    "lat",
    "lon",
    "t_ms",
    "device_hash",
    "device_hash_i8",
)
E_EVENT_ID = EVENT_ARRAYS.index("event_id")
E_EVENT_ID_I8 = EVENT_ARRAYS.index("event_id_i8")
E_CATEGORY = EVENT_ARRAYS.index("category")
E_LAT = EVENT_ARRAYS.index("lat")
E_LON = EVENT_ARRAYS.index("lon")
E_T_MS = EVENT_ARRAYS.index("t_ms")
E_DEVICE_HASH = EVENT_ARRAYS.index("device_hash")
E_DEVICE_HASH_I8 = EVENT_ARRAYS.index("device_hash_i8")


@inline
def _live(s, t, cols, prm):
    """Can case ``s`` take an event at time ``t``."""
    category, opened_t = cols[C_CATEGORY], cols[C_OPENED_T]
    last_t, closed_t = cols[C_LAST_T], cols[C_CLOSED_T]
    window, age = prm[P_WINDOW_MS], prm[P_MAX_OPEN_AGE_MS]
    if t >= closed_t[s]:
        return False
    k = category[s]
    dt = t - last_t[s]
    if abs(dt) <= window[k]:
        return True
    return opened_t[s] <= t and dt <= age[k]


@inline
def _closer(d, s, best, best_d, case_id):
    """Is slot ``s`` at distance ``d`` better than ``best``: nearer, then smaller case id."""
    return best < 0 or d < best_d or (d == best_d and case_id[s] < case_id[best])


@inline
def _device_match(dev, c, t, x, y, cols, idx, prm):
    case_id, category, xs, ys = cols[C_CASE_ID], cols[C_CATEGORY], cols[C_X], cols[C_Y]
    next_dev, dev_tab = idx[I_NEXT_IN_DEVICE], idx[I_DEV_TAB]
    compat = prm[P_COMPAT]
    best, best_d = -1, 0.0
    h = table_find(dev_tab, dev)
    s = dev_tab[h, VALUE] if h >= 0 else END
    while s >= 0:
        if compat[c, category[s]] and _live(s, t, cols, prm):
            dx = xs[s] - x
            dy = ys[s] - y
            d = np.sqrt(dx * dx + dy * dy)
            if _closer(d, s, best, best_d, case_id):
                best, best_d = s, d
        s = next_dev[s]
    return best


@inline
def _block(x, y, r, inv):
    """Cell index ranges (inclusive) of the square of half-side ``r`` around (x, y)."""
    # From the point, not its cell, widened by a micrometre, so a case at exactly the
    # radius is never lost to rounding at a cell border.
    r = r + 1e-6
    return (
        np.int64(np.floor((x - r) * inv)),
        np.int64(np.floor((x + r) * inv)),
        np.int64(np.floor((y - r) * inv)),
        np.int64(np.floor((y + r) * inv)),
    )


@inline
def _spatial_match(c, t, x, y, cols, idx, prm):
    """(best live case, best recurrence target) slots within radius, -1 when none."""
    case_id, category, xs, ys = cols[C_CASE_ID], cols[C_CATEGORY], cols[C_X], cols[C_Y]
    closed_t = cols[C_CLOSED_T]
    next_cell, cell_tab, binv = idx[I_NEXT_IN_CELL], idx[I_CELL_TAB], idx[I_BUCKET_INV]
    radius, rec = prm[P_RADIUS_M], prm[P_RECURRENCE_MS]
    cptr, cidx = prm[P_COMPAT_PTR], prm[P_COMPAT_IDX]
    best, best_d, rbest, rbest_d = -1, 0.0, -1, 0.0
    for j in range(cptr[c], cptr[c + 1]):
        k = cidx[j]  # a compatible case category: its radius bounds the block
        ix0, ix1, iy0, iy1 = _block(x, y, radius[k], binv[k])
        for ix in range(ix0, ix1 + 1):
            for iy in range(iy0, iy1 + 1):
                h = table_find(cell_tab, pack_bucket(ix, iy, k))
                s = cell_tab[h, VALUE] if h >= 0 else END
                while s >= 0:
                    if category[s] == k:  # bucket keys may collide (see bucket_key)
                        dx = xs[s] - x
                        dy = ys[s] - y
                        d = np.sqrt(dx * dx + dy * dy)
                        if d <= radius[k]:
                            if _live(s, t, cols, prm):
                                if _closer(d, s, best, best_d, case_id):
                                    best, best_d = s, d
                            elif (
                                closed_t[s] <= t
                                and t - closed_t[s] <= rec[k]
                                and _closer(d, s, rbest, rbest_d, case_id)
                            ):
                                rbest, rbest_d = s, d
                    s = next_cell[s]
    return best, rbest


@inline
def _prefetch_event(i, ev, grid, prm, idx):
    """Start loading the table rows where event ``i`` will probe; no effect on results."""
    ev_cat, ev_lat, ev_lon = ev[E_CATEGORY], ev[E_LAT], ev[E_LON]
    ev_dev_i8 = ev[E_DEVICE_HASH_I8]
    lat0, lon0, kx, ky = grid[G_ORIGIN_LAT], grid[G_ORIGIN_LON], grid[G_KX], grid[G_KY]
    radius, search_r = prm[P_RADIUS_M], prm[P_SEARCH_RADIUS_M]
    cptr, cidx = prm[P_COMPAT_PTR], prm[P_COMPAT_IDX]
    cell_tab, dev_tab, binv = idx[I_CELL_TAB], idx[I_DEV_TAB], idx[I_BUCKET_INV]
    c = ev_cat[i]
    if search_r[c] <= 0:
        return
    if ev_dev_i8[i] != 0:
        prefetch(dev_tab, table_home(dev_tab, ev_dev_i8[i]))
    x = (ev_lon[i] - lon0) * kx
    y = (ev_lat[i] - lat0) * ky
    for j in range(cptr[c], cptr[c + 1]):
        k = cidx[j]
        ix0, ix1, iy0, iy1 = _block(x, y, radius[k], binv[k])
        for ix in range(ix0, ix1 + 1):
            for iy in range(iy0, iy1 + 1):
                prefetch(cell_tab, table_home(cell_tab, pack_bucket(ix, iy, k)))


@inline
def _open_case(eid, eid_i8, c, x, y, t, dev, dev_i8, rec_id, inv, cols, idx, meta):
    s = meta[M_N_CASES]
    key = ((np.int64(np.floor(x * inv)) + CELL_OFFSET) << 32) | (
        np.int64(np.floor(y * inv)) + CELL_OFFSET
    )
    cols[C_CASE_ID][s] = eid
    cols[C_CATEGORY][s] = c
    cols[C_X][s] = x
    cols[C_Y][s] = y
    cols[C_CELL][s] = key
    cols[C_OPENED_T][s] = t
    cols[C_LAST_T][s] = t
    cols[C_N_EVENTS][s] = 1
    cols[C_DEVICE_HASH][s] = dev
    cols[C_CLOSED_T][s] = OPEN
    cols[C_RECURRENCE_OF][s] = rec_id
    bucket = bucket_key(x, y, c, idx[I_BUCKET_INV])
    meta[M_N_CELL_KEYS] += table_link(idx[I_CELL_TAB], idx[I_NEXT_IN_CELL], bucket, s)
    idx[I_NEXT_IN_DEVICE][s] = END
    if dev_i8 != 0:
        meta[M_N_DEVICE_KEYS] += table_link(idx[I_DEV_TAB], idx[I_NEXT_IN_DEVICE], dev_i8, s)
    id_tab = idx[I_ID_TAB]
    i = table_slot(id_tab, eid_i8)
    id_tab[i, KEY] = eid_i8
    id_tab[i, VALUE] = s
    if c >= meta[M_N_CATEGORIES]:
        meta[M_N_CATEGORIES] = c + 1
    meta[M_N_CASES] = s + 1


@norc
def dedup_kernel(ev, out, grid, prm, cols, idx, meta, warm):
    ev_id, ev_id_i8, ev_cat = ev[E_EVENT_ID], ev[E_EVENT_ID_I8], ev[E_CATEGORY]
    ev_lat, ev_lon, ev_t = ev[E_LAT], ev[E_LON], ev[E_T_MS]
    ev_dev, ev_dev_i8 = ev[E_DEVICE_HASH], ev[E_DEVICE_HASH_I8]
    out_case, out_new, out_rec = out
    lat0, lon0, kx, ky = grid[G_ORIGIN_LAT], grid[G_ORIGIN_LON], grid[G_KX], grid[G_KY]
    inv = grid[G_INV_CELL]
    case_id, last_t = cols[C_CASE_ID], cols[C_LAST_T]
    n_events, recurrence_of = cols[C_N_EVENTS], cols[C_RECURRENCE_OF]
    late, search_r = prm[P_LATENESS_MS], prm[P_SEARCH_RADIUS_M]
    id_tab = idx[I_ID_TAB]
    m = ev_id.shape[0]
    # In a register for the loop: stores to the case columns could alias meta, so the
    # compiler would reload and store it for every event.
    max_t = meta[M_MAX_T]
    for i in range(m):
        # Only when ``warm`` (the state is bigger than the caches): the table rows event
        # i + AHEAD will probe. Not the cases their lists start with: finding those again
        # (every block's keys hashed and probed a second time) cost more than the misses
        # it hid (docs/benchmarks.md, "The dedup kernel: where the time goes").
        if warm and i + AHEAD < m:
            prefetch(id_tab, table_home(id_tab, ev_id_i8[i + AHEAD]))
            _prefetch_event(i + AHEAD, ev, grid, prm, idx)
        c = ev_cat[i]
        t = ev_t[i]
        out_case[i] = 0
        out_new[i] = False
        out_rec[i] = 0
        if max_t != NO_TIME and t < max_t - late[c]:
            continue  # too late: REJECTED
        max_t = max(max_t, t)
        h = table_find(id_tab, ev_id_i8[i])
        if h >= 0:  # redelivered opening event: same answer as the first time
            s = id_tab[h, VALUE]
            out_case[i] = case_id[s]
            out_new[i] = True
            out_rec[i] = recurrence_of[s]
            continue
        x = (ev_lon[i] - lon0) * kx
        y = (ev_lat[i] - lat0) * ky
        best, rbest = -1, -1
        if search_r[c] > 0:
            if ev_dev_i8[i] != 0:
                best = _device_match(ev_dev_i8[i], c, t, x, y, cols, idx, prm)
            if best < 0:
                best, rbest = _spatial_match(c, t, x, y, cols, idx, prm)
        if best >= 0:
            last_t[best] = max(last_t[best], t)
            n_events[best] += 1
            out_case[i] = case_id[best]
            continue
        rec_id = case_id[rbest] if rbest >= 0 else np.uint64(0)
        out_case[i] = ev_id[i]
        out_new[i] = True
        out_rec[i] = rec_id
        if search_r[c] > 0:  # a category that merges with nothing needs no stored case
            _open_case(
                ev_id[i],
                ev_id_i8[i],
                c,
                x,
                y,
                t,
                ev_dev[i],
                ev_dev_i8[i],
                rec_id,
                inv,
                cols,
                idx,
                meta,
            )
    meta[M_MAX_T] = max_t


@inline
def _expired(s, w, cols, prm):
    """Open case ``s`` can match no event at or after ``w``."""
    k = cols[C_CATEGORY][s]
    return w > cols[C_LAST_T][s] + max(prm[P_WINDOW_MS][k], prm[P_MAX_OPEN_AGE_MS][k])


@norc
def dead_mask(n, w, cols, prm, out):
    category, closed_t, rec = cols[C_CATEGORY], cols[C_CLOSED_T], prm[P_RECURRENCE_MS]
    for s in range(n):
        ct = closed_t[s]
        if ct != OPEN:
            out[s] = ct <= w and ct + rec[category[s]] < w
        else:
            out[s] = _expired(s, w, cols, prm)


@norc
def close_kernel(ids_i8, when, w, cols, idx, prm, applied):
    opened_t, closed_t = cols[C_OPENED_T], cols[C_CLOSED_T]
    id_tab = idx[I_ID_TAB]
    for i in range(ids_i8.shape[0]):
        applied[i] = False
        h = table_find(id_tab, ids_i8[i])
        if h < 0:
            continue
        s = id_tab[h, VALUE]
        if closed_t[s] != OPEN or _expired(s, w, cols, prm):
            continue  # first close wins; an expired case is out of reach already
        closed_t[s] = max(when[i], opened_t[s])
        applied[i] = True
