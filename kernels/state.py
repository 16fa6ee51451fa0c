"""Explicit dedup state: case rows plus rebuildable hash indexes.

The columns (``COLUMNS``) are the whole truth; the indexes ((bucket, category) -> cases,
device -> cases, case id -> slot) are derived: rebuilt on restore and after eviction (which
moves slots), rehashed from the old tables on growth (slots stay put). Lists of cases per
(bucket, category) / per device are singly linked through ``next_in_cell`` /
``next_in_device`` (int32 slots, ``_hashtab.END`` ends a list). Order inside a list never
affects results: ties are broken by distance then case id. Bucket sizes depend on the
parameters, which the state does not hold: ``dedup_batch`` passes them in
(``use_buckets``); until then (a fresh or restored state) no spatial list is built.

Layout, for the dedup kernel's cache misses: the fields a candidate check reads (id,
position, times, category, counters, list links) sit together in one 64-byte, line-aligned
row of a record array (``HOT``), so one candidate costs one cache line; the rest
(``cell``, ``device_hash``, ``recurrence_of``) are plain columns. ``cols[name]`` are views
of either, so code and snapshots see the same named columns as before.

Memory: 88 bytes per case slot, plus three tables of 16-byte entries sized for the slot
capacity at load <= 1/2: 184 MiB for room for a million cases (measured in
tests/unit/kernels/test_kernels_state.py).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from kernels._hashtab import (
    EMPTY,
    END,
    KEY,
    VALUE,
    aligned_zeros,
    new_table,
    table_capacity,
    table_home,
    table_link,
    table_slot,
)
from kernels._jit import inline, norc, prefetch
from kernels.grid import CELL_OFFSET, GridSpec

__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "C_CASE_ID",
    "C_CATEGORY",
    "C_CELL",
    "C_CLOSED_T",
    "C_DEVICE_HASH",
    "C_LAST_T",
    "C_N_EVENTS",
    "C_OPENED_T",
    "C_RECURRENCE_OF",
    "C_X",
    "C_Y",
    "HOT",
    "INDEX_ARRAYS",
    "I_BUCKET_INV",
    "I_CELL_TAB",
    "I_DEV_TAB",
    "I_ID_TAB",
    "I_NEXT_IN_CELL",
    "I_NEXT_IN_DEVICE",
    "META",
    "M_MAX_T",
    "M_N_CASES",
    "M_N_CATEGORIES",
    "M_N_CELL_KEYS",
    "M_N_DEVICE_KEYS",
    "NO_TIME",
    "OPEN",
    "DedupState",
    "bucket_key",
    "pack_bucket",
    "restore",
    "snapshot",
]

OPEN = np.iinfo(np.int64).max  # closed_t of an open case
NO_TIME = np.iinfo(np.int64).min  # max_t before the first event

# One source of truth for the case columns: allocation, growth, compaction, snapshots.
COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("case_id", np.uint64),
    ("category", np.uint16),
    ("x", np.float64),
    ("y", np.float64),
    ("cell", np.int64),
    ("opened_t", np.int64),
    ("last_t", np.int64),
    ("n_events", np.uint32),
    ("device_hash", np.uint64),
    ("closed_t", np.int64),
    ("recurrence_of", np.uint64),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)
# What the kernels take besides the columns (``DedupState.kernel_args``): the index arrays,
# attributes of the state, in this order ...
INDEX_ARRAYS = ("next_in_cell", "next_in_device", "cell_tab", "dev_tab", "id_tab", "bucket_inv")
# ... and ``meta``, one int64 array so kernels update it in place: the number of cases,
# of keys in the cell and device tables, the latest event time (NO_TIME before the first)
# and 1 + the largest category stored.
META = ("n_cases", "n_cell_keys", "n_device_keys", "max_t", "n_categories")
# Kernels index those tuples by position. A tuple of differently typed arrays takes only
# compile-time constant indices, and numba freezes module-level ints as constants: hence
# one int per name, looked up by name so each follows any change of order (a name missing
# here fails at import; tests/unit/kernels/test_kernels_layout.py catches a name added to
# an order without its int).
C_CASE_ID = COLUMN_NAMES.index("case_id")
C_CATEGORY = COLUMN_NAMES.index("category")
C_X = COLUMN_NAMES.index("x")
C_Y = COLUMN_NAMES.index("y")
C_CELL = COLUMN_NAMES.index("cell")
C_OPENED_T = COLUMN_NAMES.index("opened_t")
C_LAST_T = COLUMN_NAMES.index("last_t")
C_N_EVENTS = COLUMN_NAMES.index("n_events")
C_DEVICE_HASH = COLUMN_NAMES.index("device_hash")
C_CLOSED_T = COLUMN_NAMES.index("closed_t")
C_RECURRENCE_OF = COLUMN_NAMES.index("recurrence_of")
I_NEXT_IN_CELL = INDEX_ARRAYS.index("next_in_cell")
I_NEXT_IN_DEVICE = INDEX_ARRAYS.index("next_in_device")
I_CELL_TAB = INDEX_ARRAYS.index("cell_tab")
I_DEV_TAB = INDEX_ARRAYS.index("dev_tab")
I_ID_TAB = INDEX_ARRAYS.index("id_tab")
I_BUCKET_INV = INDEX_ARRAYS.index("bucket_inv")
M_N_CASES = META.index("n_cases")
M_N_CELL_KEYS = META.index("n_cell_keys")
M_N_DEVICE_KEYS = META.index("n_device_keys")
M_MAX_T = META.index("max_t")
M_N_CATEGORIES = META.index("n_categories")
# The fields one candidate check touches, in one 64-byte row (align=True pads as C does).
_HOT_FIELDS: list[tuple[str, type[np.generic]]] = [
    ("case_id", np.uint64),
    ("x", np.float64),
    ("y", np.float64),
    ("opened_t", np.int64),
    ("last_t", np.int64),
    ("closed_t", np.int64),
    ("category", np.uint16),
    ("n_events", np.uint32),
    ("next_in_cell", np.int32),
    ("next_in_device", np.int32),
]
HOT = np.dtype(_HOT_FIELDS, align=True)
_HOT_NAMES = tuple(name for name, _ in _HOT_FIELDS)
_COLD = tuple((name, dt) for name, dt in COLUMNS if name not in _HOT_NAMES)
_TABLES = ("cell_tab", "dev_tab", "id_tab")
_AHEAD = 16  # rows between a prefetch and its use in the index rebuild

_MAGIC = b"CSDEDUP\x00"
_VERSION = 1
_HEADER = struct.Struct("<8sIdddqqqq")  # magic, version, spec (3), n, max_t, caps (2)


class DedupState:
    """Mutable dedup state for one grid. Build with ``DedupState(spec)`` or ``restore``."""

    def __init__(
        self, spec: GridSpec, *, initial_capacity: int = 1024, max_capacity: int = 1 << 24
    ) -> None:
        if not isinstance(spec, GridSpec):
            raise ValueError(f"spec must be a GridSpec, got {type(spec).__name__}")
        if not 1 <= initial_capacity <= max_capacity <= (1 << 31) - 1:
            raise ValueError(
                "need 1 <= initial_capacity <= max_capacity < 2**31, got "
                f"{initial_capacity} and {max_capacity}"
            )
        self.spec = spec
        self.initial_capacity = int(initial_capacity)
        self.max_capacity = int(max_capacity)
        self.meta = np.zeros(len(META), dtype=np.int64)  # see META
        self.meta[M_MAX_T] = NO_TIME
        self.cols: dict[str, npt.NDArray[Any]] = {}
        # 1 / bucket size per category for the spatial lists (see ``use_buckets``); empty
        # until the first batch brings parameters: no spatial lists are built before.
        self.bucket_inv = np.zeros(0, dtype=np.float64)
        self.cell_tab, self.dev_tab, self.id_tab = new_table(0), new_table(0), new_table(0)
        self._allocate(self.initial_capacity)
        self.rebuild_index()

    # -- sizes -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.meta[M_N_CASES])

    @property
    def max_t(self) -> int:
        return int(self.meta[M_MAX_T])

    @property
    def capacity(self) -> int:
        return int(self.cols["case_id"].shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by every array of the state (columns, links, tables)."""
        tables = sum(getattr(self, name).nbytes for name in _TABLES)
        cold = sum(self.cols[name].nbytes for name, _ in _COLD)
        return self.hot.nbytes + cold + tables + self.meta.nbytes

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Read-only views of the live rows of every column."""
        out = {}
        for name in COLUMN_NAMES:
            v = self.cols[name][: self.n].view()
            v.flags.writeable = False
            out[name] = v
        return out

    # -- growth, compaction, indexes ---------------------------------------------------
    def reserve(self, m: int) -> int:
        """Grow so ``m`` more cases fit if allowed; return how many fit now (may be < m)."""
        need = self.n + m
        if need > self.capacity and self.capacity < self.max_capacity:
            cap = self.capacity
            while cap < need and cap < self.max_capacity:
                cap *= 2
            self._allocate(min(cap, self.max_capacity))
        fit = min(m, self.capacity - self.n)
        # Tables must stay at load <= 1/2 after up to `fit` inserts of new keys; sized by
        # the slot capacity, as ``rebuild_index`` does, they grow along with the columns.
        cap = table_capacity(self.capacity)
        for name, keys in zip(_TABLES, self._table_keys(), strict=True):
            table = getattr(self, name)
            if table.shape[0] < 2 * (keys + fit):
                setattr(self, name, _grown(table, cap))
        return fit

    def _table_keys(self) -> tuple[int, int, int]:
        """Keys held by each table, in ``_TABLES`` order."""
        return int(self.meta[M_N_CELL_KEYS]), int(self.meta[M_N_DEVICE_KEYS]), self.n

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Keep only live rows where ``mask`` is true, shrink if mostly empty, reindex."""
        n = self.n
        m = int(mask.sum())
        # In place, as plain int64 words: no temporary copy of the state to fault in.
        cold = [self.cols[name].view(np.int64)[:, None] for name, _ in _COLD]
        for arr in (self._rows, *cold):
            _compact(arr, mask, n)
        self.meta[M_N_CASES] = m
        cap = self.capacity
        while cap > self.initial_capacity and 4 * m < cap:
            cap //= 2
        if cap != self.capacity:
            self._allocate(cap)
        self.rebuild_index()

    def _allocate(self, capacity: int) -> None:
        n = self.n
        raw = aligned_zeros(capacity * HOT.itemsize)  # no row straddles two cache lines
        hot = raw.view(HOT)
        new = {name: hot[name] for name in _HOT_NAMES if name in COLUMN_NAMES}
        new.update({name: np.zeros(capacity, dtype=dt) for name, dt in _COLD})
        rows = raw.view(np.int64).reshape(capacity, HOT.itemsize // 8)
        if self.cols:
            rows[:n] = self._rows[:n]
            for name, _ in _COLD:
                new[name][:n] = self.cols[name][:n]
        self.hot: npt.NDArray[np.void] = hot
        self._rows: npt.NDArray[np.int64] = rows
        self.cols = new
        self.next_in_cell = hot["next_in_cell"]
        self.next_in_device = hot["next_in_device"]

    def use_buckets(self, bucket_inv: npt.NDArray[np.float64]) -> None:
        """Index the spatial lists with these per-category inverse bucket sizes."""
        if not np.array_equal(bucket_inv, self.bucket_inv):
            self.bucket_inv = np.array(bucket_inv, dtype=np.float64)
            self.rebuild_index()

    def rebuild_index(self) -> None:
        """Recreate every table from the columns."""
        n = self.n
        c = self.cols
        # Sized by the slot capacity (an upper bound on cases, hence on distinct keys), so
        # tables grow with the columns and never force a rebuild of their own: counting
        # distinct keys would cost a sort on every eviction.
        cap = table_capacity(self.capacity)
        self.cell_tab = _empty_table(self.cell_tab, cap)
        self.dev_tab = _empty_table(self.dev_tab, cap)
        self.id_tab = _empty_table(self.id_tab, cap)
        n_cells, n_devs = _index_kernel(
            n,
            c["x"],
            c["y"],
            c["category"],
            self.bucket_inv,
            c["device_hash"].view(np.int64),
            c["case_id"].view(np.int64),
            self.next_in_cell,
            self.next_in_device,
            (self.cell_tab, self.dev_tab, self.id_tab),
        )
        self.meta[M_N_CELL_KEYS] = n_cells
        self.meta[M_N_DEVICE_KEYS] = n_devs
        self.meta[M_N_CATEGORIES] = int(c["category"][:n].max()) + 1 if n else 0

    def kernel_args(self) -> tuple[tuple[npt.NDArray[Any], ...], tuple[npt.NDArray[Any], ...], Any]:
        """(columns, index arrays, meta) as the dedup kernels take them: the columns in
        ``COLUMNS`` order, the index arrays in ``INDEX_ARRAYS`` order."""
        return (
            tuple(self.cols[name] for name in COLUMN_NAMES),
            tuple(getattr(self, name) for name in INDEX_ARRAYS),
            self.meta,
        )


@inline
def bucket_key(x, y, k, bucket_inv):
    """Table key of the bucket holding (x, y) in the spatial lists of category ``k``.

    Buckets are squares of side ``1 / bucket_inv[k]`` (at least twice the category's
    radius, so a search block is at most 2 x 2 buckets), packed like cell ids, then mixed
    with the category. Not injective: bits 47-62 of a packed id hold bits 15-30 of its
    column index, so keys collide only for buckets 2**15 columns apart, never inside one
    search block; kernels check each listed case's category, and its distance.
    """
    inv = bucket_inv[k]
    bx = np.int64(np.floor(x * inv))
    by = np.int64(np.floor(y * inv))
    return pack_bucket(bx, by, k)


@inline
def pack_bucket(bx, by, k):
    return (((bx + CELL_OFFSET) << 32) | (by + CELL_OFFSET)) ^ (np.int64(k) << 47)


def _grown(old: npt.NDArray[np.int64], capacity: int) -> npt.NDArray[np.int64]:
    """``old``'s entries in a new table of ``capacity`` rows (slots do not move when the
    columns grow, so the lists threaded through them stay as they are)."""
    new = new_table(capacity)
    _rehash(old, new)
    return new


@norc
def _rehash(old, new):
    # In the old table's row order: with linear probing an entry sits at or just after its
    # home row, and its home in a table twice as big is that row or that row + the old
    # capacity, so the writes run through two nearly sequential streams instead of
    # missing the cache once per key, as a rebuild from the columns does.
    for i in range(old.shape[0]):
        key = old[i, KEY]
        if key != EMPTY:
            j = table_slot(new, key)
            new[j, KEY] = key
            new[j, VALUE] = old[i, VALUE]


def _empty_table(old: npt.NDArray[np.int64], capacity: int) -> npt.NDArray[np.int64]:
    if old.shape[0] != capacity:
        return new_table(capacity)
    old.fill(0)  # memory already mapped: far cheaper than faulting in new pages
    return old


@norc
def _compact(rows, mask, n):
    """Move the rows ``s < n`` with ``mask[s]`` to the front, keeping their order."""
    m = 0
    for s in range(n):
        if mask[s]:
            if m != s:
                for j in range(rows.shape[1]):
                    rows[m, j] = rows[s, j]
            m += 1


@norc
def _index_kernel(n, xs, ys, category, binv, dev, cid, next_cell, next_dev, tables):
    ctab, dtab, itab = tables
    n_cells = 0
    n_devs = 0
    spatial = binv.shape[0] > 0
    for s in range(n):
        if s + _AHEAD < n:  # tables are far bigger than the caches: overlap the misses
            a = s + _AHEAD
            if spatial:
                key = bucket_key(xs[a], ys[a], category[a], binv)
                prefetch(ctab, table_home(ctab, key))
            prefetch(dtab, table_home(dtab, dev[a]))
            prefetch(itab, table_home(itab, cid[a]))
        next_cell[s] = END
        if spatial:
            n_cells += table_link(ctab, next_cell, bucket_key(xs[s], ys[s], category[s], binv), s)
        next_dev[s] = END
        if dev[s] != 0:
            n_devs += table_link(dtab, next_dev, dev[s], s)
        i = table_slot(itab, cid[s])
        itab[i, KEY] = cid[s]
        itab[i, VALUE] = s
    return n_cells, n_devs


def snapshot(state: DedupState) -> bytes:
    """Exact, versioned bytes of the state (live rows only; indexes are rebuilt)."""
    s = state.spec
    header = _HEADER.pack(
        _MAGIC,
        _VERSION,
        s.origin_lat,
        s.origin_lon,
        s.cell_size_m,
        state.n,
        state.max_t,
        state.initial_capacity,
        state.max_capacity,
    )
    n = state.n
    body = b"".join(
        state.cols[name][:n].astype(np.dtype(dt).newbyteorder("<"), copy=False).tobytes()
        for name, dt in COLUMNS
    )
    return header + body


def restore(data: bytes) -> DedupState:
    """Inverse of :func:`snapshot`; raises ValueError on a foreign or damaged blob."""
    if len(data) < _HEADER.size:
        raise ValueError(f"dedup snapshot too short: {len(data)} bytes")
    magic, version, lat, lon, cell, n, max_t, init_cap, max_cap = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError("not a dedup snapshot (bad magic)")
    if version != _VERSION:
        raise ValueError(f"dedup snapshot version {version} unsupported (want {_VERSION})")
    row = sum(np.dtype(dt).itemsize for _, dt in COLUMNS)
    if n < 0 or len(data) != _HEADER.size + n * row:
        raise ValueError(f"dedup snapshot length {len(data)} does not match {n} cases")
    state = DedupState(GridSpec(lat, lon, cell), initial_capacity=init_cap, max_capacity=max_cap)
    state.reserve(n)
    off = _HEADER.size
    for name, dt in COLUMNS:
        size = n * np.dtype(dt).itemsize
        state.cols[name][:n] = np.frombuffer(
            data, dtype=np.dtype(dt).newbyteorder("<"), count=n, offset=off
        )
        off += size
    state.meta[M_N_CASES] = n
    state.meta[M_MAX_T] = max_t
    state.rebuild_index()
    return state
