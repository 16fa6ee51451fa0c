"""The numba loops behind ``kernels.dedup`` (semantics are documented there).

Arguments travel as tuples in a fixed order so signatures stay short:
``cols`` = the case columns in ``state.COLUMNS`` order, ``idx`` = (next_in_cell,
next_in_device, cell_tab, dev_tab, id_tab, bucket_inv) (tables: see ``kernels._hashtab``;
the spatial table is keyed by ``state.bucket_key``), ``prm`` =
``DedupParams.kernel_args()``, ``grid`` = (lat0, lon0, kx, ky, 1 / cell size),
``meta`` = [n cases, n bucket keys, n device keys, max event time, 1 + max category].

Where the time goes, measured: the top-level kernels are ``norc`` (no reference counting,
see ``kernels._jit``), which alone made them about 5x faster. The rest is memory: a
candidate case is one 64-byte row (``state.HOT``), a table probe is one line, a spatial
list holds one category (an event walks only the categories it may join, over at most
2 x 2 buckets sized from the case category's radius), and what event ``i + AHEAD`` will
read is prefetched while event ``i`` is processed.
"""

from __future__ import annotations

import numpy as np

from kernels._hashtab import END, KEY, VALUE, table_find, table_home, table_link, table_slot
from kernels._jit import inline, norc, prefetch
from kernels.grid import CELL_OFFSET
from kernels.state import NO_TIME, OPEN, bucket_key, pack_bucket

AHEAD = 16  # events between a prefetch and its use: enough to hide one memory latency


@inline
def _live(s, t, cols, prm):
    """Can case ``s`` take an event at time ``t``."""
    category, opened_t, last_t, closed_t = cols[1], cols[5], cols[6], cols[9]
    window, age = prm[1], prm[5]
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
    case_id, category, xs, ys = cols[0], cols[1], cols[2], cols[3]
    next_dev, dev_tab = idx[1], idx[3]
    compat = prm[2]
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
    case_id, category, xs, ys, closed_t = cols[0], cols[1], cols[2], cols[3], cols[9]
    next_cell, cell_tab, binv = idx[0], idx[2], idx[5]
    radius, rec, cptr, cidx = prm[0], prm[3], prm[7], prm[8]
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
def _touch(table, key, rows):
    """Stage 1 (``rows`` None): prefetch the table row where ``key`` is probed. Stage 2:
    the row has arrived, find the key and prefetch the first case of its list."""
    if rows is None:
        prefetch(table, table_home(table, key))
        return
    h = table_find(table, key)
    if h >= 0:
        prefetch(rows, table[h, VALUE])


@inline
def _prefetch_event(i, ev, grid, prm, idx, rows):
    """Start loading what event ``i`` will read (see ``_touch``); no effect on results."""
    ev_cat, ev_lat, ev_lon, ev_dev_i8 = ev[2], ev[3], ev[4], ev[7]
    lat0, lon0, kx, ky, _ = grid
    radius, search_r, cptr, cidx = prm[0], prm[6], prm[7], prm[8]
    cell_tab, dev_tab, binv = idx[2], idx[3], idx[5]
    c = ev_cat[i]
    if search_r[c] <= 0:
        return
    if ev_dev_i8[i] != 0:
        _touch(dev_tab, ev_dev_i8[i], rows)
    x = (ev_lon[i] - lon0) * kx
    y = (ev_lat[i] - lat0) * ky
    for j in range(cptr[c], cptr[c + 1]):
        k = cidx[j]
        ix0, ix1, iy0, iy1 = _block(x, y, radius[k], binv[k])
        for ix in range(ix0, ix1 + 1):
            for iy in range(iy0, iy1 + 1):
                _touch(cell_tab, pack_bucket(ix, iy, k), rows)


@inline
def _open_case(eid, eid_i8, c, x, y, t, dev, dev_i8, rec_id, inv, cols, idx, meta):
    case_id, category, xs, ys, cell, opened_t, last_t = cols[:7]
    n_events, device_hash, closed_t, recurrence_of = cols[7:]
    s = meta[0]
    key = ((np.int64(np.floor(x * inv)) + CELL_OFFSET) << 32) | (
        np.int64(np.floor(y * inv)) + CELL_OFFSET
    )
    case_id[s] = eid
    category[s] = c
    xs[s] = x
    ys[s] = y
    cell[s] = key
    opened_t[s] = t
    last_t[s] = t
    n_events[s] = 1
    device_hash[s] = dev
    closed_t[s] = OPEN
    recurrence_of[s] = rec_id
    meta[1] += table_link(idx[2], idx[0], bucket_key(x, y, c, idx[5]), s)
    idx[1][s] = END
    if dev_i8 != 0:
        meta[2] += table_link(idx[3], idx[1], dev_i8, s)
    id_tab = idx[4]
    i = table_slot(id_tab, eid_i8)
    id_tab[i, KEY] = eid_i8
    id_tab[i, VALUE] = s
    if c >= meta[4]:
        meta[4] = c + 1
    meta[0] = s + 1


@norc
def dedup_kernel(ev, out, grid, prm, cols, idx, meta):
    ev_id, ev_id_i8, ev_cat, ev_lat, ev_lon, ev_t, ev_dev, ev_dev_i8 = ev
    out_case, out_new, out_rec = out
    lat0, lon0, kx, ky, inv = grid
    case_id, last_t, n_events, recurrence_of = cols[0], cols[6], cols[7], cols[10]
    late, search_r = prm[4], prm[6]
    id_tab = idx[4]
    m = ev_id.shape[0]
    for i in range(m):
        # Two stages: table rows for event i + AHEAD, then (their rows have arrived) the
        # first case of each list for event i + AHEAD / 2; the id probe in stage one.
        if i + AHEAD < m:
            prefetch(id_tab, table_home(id_tab, ev_id_i8[i + AHEAD]))
            _prefetch_event(i + AHEAD, ev, grid, prm, idx, None)
        if i + AHEAD // 2 < m:
            _prefetch_event(i + AHEAD // 2, ev, grid, prm, idx, case_id)
        c = ev_cat[i]
        t = ev_t[i]
        out_case[i] = 0
        out_new[i] = False
        out_rec[i] = 0
        if meta[3] != NO_TIME and t < meta[3] - late[c]:
            continue  # too late: REJECTED
        meta[3] = max(meta[3], t)
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


@inline
def _expired(s, w, cols, prm):
    """Open case ``s`` can match no event at or after ``w``."""
    k = cols[1][s]
    return w > cols[6][s] + max(prm[1][k], prm[5][k])


@norc
def dead_mask(n, w, cols, prm, out):
    category, closed_t, rec = cols[1], cols[9], prm[3]
    for s in range(n):
        ct = closed_t[s]
        if ct != OPEN:
            out[s] = ct <= w and ct + rec[category[s]] < w
        else:
            out[s] = _expired(s, w, cols, prm)


@norc
def close_kernel(ids_i8, when, w, cols, idx, prm, applied):
    opened_t, closed_t = cols[5], cols[9]
    for i in range(ids_i8.shape[0]):
        applied[i] = False
        h = table_find(idx[4], ids_i8[i])
        if h < 0:
            continue
        s = idx[4][h, VALUE]
        if closed_t[s] != OPEN or _expired(s, w, cols, prm):
            continue  # first close wins; an expired case is out of reach already
        closed_t[s] = max(when[i], opened_t[s])
        applied[i] = True
