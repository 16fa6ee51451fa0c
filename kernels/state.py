"""Explicit dedup state: struct-of-arrays case columns plus rebuildable hash indexes.

The columns (``COLUMNS``) are the whole truth; the indexes (cell -> cases, device ->
cases, case id -> slot) are derived and rebuilt on restore and after eviction. Lists of
cases per cell / per device are singly linked through ``next_in_cell`` /
``next_in_device`` (int32 slots, -1 ends a list). Order inside a list never affects
results: ties are broken by distance then case id.

Memory: 78 bytes of columns + 8 bytes of links per case slot, plus three tables of
12-byte entries sized for the case count at load <= 1/2: 158 MiB for a million cases
(measured in tests/unit/kernels/test_kernels_state.py).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from kernels._hashtab import new_table, table_capacity, table_slot
from kernels._jit import ngjit
from kernels.grid import GridSpec

__all__ = ["COLUMNS", "INT64_MAX", "NO_TIME", "DedupState", "restore", "snapshot"]

INT64_MAX = np.iinfo(np.int64).max  # closed_t of an open case
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
_COLUMN_NAMES = tuple(name for name, _ in COLUMNS)
_INDEX_ARRAYS = (
    "next_in_cell",
    "next_in_device",
    "cell_keys",
    "cell_heads",
    "dev_keys",
    "dev_heads",
    "id_keys",
    "id_slots",
)

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
        # meta: [n cases, n cell keys, n device keys, max event time, 1 + max category];
        # an array so kernels update it in place.
        self.meta = np.array([0, 0, 0, NO_TIME, 0], dtype=np.int64)
        self.cols: dict[str, npt.NDArray[Any]] = {}
        self._allocate(self.initial_capacity)
        self.rebuild_index()

    # -- sizes -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.meta[0])

    @property
    def max_t(self) -> int:
        return int(self.meta[3])

    @property
    def capacity(self) -> int:
        return int(self.cols["case_id"].shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by every array of the state (columns, links, tables)."""
        idx = sum(getattr(self, name).nbytes for name in _INDEX_ARRAYS)
        return sum(a.nbytes for a in self.cols.values()) + idx + self.meta.nbytes

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Read-only views of the live rows of every column."""
        out = {}
        for name in _COLUMN_NAMES:
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
            self.rebuild_index()
        fit = min(m, self.capacity - self.n)
        # Tables must stay at load <= 1/2 after up to `fit` inserts of new keys.
        if (
            self.cell_keys.shape[0] < 2 * (int(self.meta[1]) + fit)
            or self.dev_keys.shape[0] < 2 * (int(self.meta[2]) + fit)
            or self.id_keys.shape[0] < 2 * (self.n + fit)
        ):
            self.rebuild_index(extra=fit)
        return fit

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Keep only live rows where ``mask`` is true, shrink if mostly empty, reindex."""
        n = self.n
        m = int(mask.sum())
        for name in _COLUMN_NAMES:
            col = self.cols[name]
            col[:m] = col[:n][mask]
        self.meta[0] = m
        cap = self.capacity
        while cap > self.initial_capacity and 4 * m < cap:
            cap //= 2
        if cap != self.capacity:
            self._allocate(cap)
        self.rebuild_index()

    def _allocate(self, capacity: int) -> None:
        n = self.n
        new = {name: np.zeros(capacity, dtype=dt) for name, dt in COLUMNS}
        for name in _COLUMN_NAMES:
            if name in self.cols:
                new[name][:n] = self.cols[name][:n]
        self.cols = new
        self.next_in_cell = np.full(capacity, -1, dtype=np.int32)
        self.next_in_device = np.full(capacity, -1, dtype=np.int32)

    def rebuild_index(self, extra: int = 0) -> None:
        """Recreate every table from the columns, sized for ``extra`` more cases."""
        n = self.n
        c = self.cols
        # Sized by the case count (an upper bound on distinct cells and devices): counting
        # distinct keys would cost a sort on every eviction.
        cap = table_capacity(n + extra)
        self.cell_keys, self.cell_heads = new_table(cap)
        self.dev_keys, self.dev_heads = new_table(cap)
        self.id_keys, self.id_slots = new_table(cap)
        self.next_in_cell.fill(-1)
        self.next_in_device.fill(-1)
        n_cells, n_devs = _index_kernel(
            n,
            c["cell"],
            c["device_hash"].view(np.int64),
            c["case_id"].view(np.int64),
            self.next_in_cell,
            self.next_in_device,
            self.cell_keys,
            self.cell_heads,
            self.dev_keys,
            self.dev_heads,
            self.id_keys,
            self.id_slots,
        )
        self.meta[1] = n_cells
        self.meta[2] = n_devs
        self.meta[4] = int(c["category"][:n].max()) + 1 if n else 0

    def kernel_args(self) -> tuple[tuple[npt.NDArray[Any], ...], tuple[npt.NDArray[Any], ...], Any]:
        """(columns, index arrays, meta) as the dedup kernels take them."""
        return (
            tuple(self.cols[name] for name in _COLUMN_NAMES),
            tuple(getattr(self, name) for name in _INDEX_ARRAYS),
            self.meta,
        )


@ngjit
def _index_kernel(n, cell, dev, cid, next_cell, next_dev, ck, ch, dk, dh, ik, islot):
    n_cells = 0
    n_devs = 0
    for s in range(n):
        i = table_slot(ck, cell[s])
        if ck[i] == 0:
            ck[i] = cell[s]
            n_cells += 1
        next_cell[s] = ch[i]
        ch[i] = s
        if dev[s] != 0:
            i = table_slot(dk, dev[s])
            if dk[i] == 0:
                dk[i] = dev[s]
                n_devs += 1
            next_dev[s] = dh[i]
            dh[i] = s
        i = table_slot(ik, cid[s])
        ik[i] = cid[s]
        islot[i] = s
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
    state.meta[0] = n
    state.meta[3] = max_t
    state.rebuild_index()
    return state
