"""Open-addressing (linear probing) int64 -> int64 hash tables for numba kernels.

A table is one ``(capacity, 2)`` int64 array, capacity a power of two: column 0 holds the
key (0 = empty: 0 is reserved for event/device ids and impossible for packed cell keys),
column 1 the value (a slot of the case arrays; meaningless while the key is empty, so a
fresh table is plain zeroed memory). Key and value side by side make one probe one cache
line. There is no deletion: eviction compacts the case arrays
and rebuilds every table, which keeps probing simple and fast. Callers keep the load
factor at or below one half (see ``table_capacity``).

A table whose values head linked lists (``table_link``) maps a key to its first slot; the
rest of the list is threaded through a ``nexts`` array, ``END`` closing it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kernels._jit import inline

__all__ = [
    "EMPTY",
    "END",
    "KEY",
    "LINE",
    "VALUE",
    "aligned_zeros",
    "new_table",
    "table_capacity",
    "table_find",
    "table_home",
    "table_link",
    "table_slot",
]

EMPTY = 0
KEY, VALUE = 0, 1  # columns of a table row
END = -1  # the link after the last slot of a list (slots are >= 0)
MIN_TABLE = 16
LINE = 64  # bytes per cache line


def table_capacity(n_keys: int) -> int:
    """Smallest power of two holding ``n_keys`` at load factor <= 1/2."""
    cap = MIN_TABLE
    while cap < 2 * n_keys:
        cap *= 2
    return cap


def aligned_zeros(nbytes: int) -> npt.NDArray[np.uint8]:
    """Zeroed bytes starting on a cache line (numpy only promises 16-byte alignment)."""
    buf = np.zeros(nbytes + LINE, dtype=np.uint8)
    start = -buf.ctypes.data % LINE
    return buf[start : start + nbytes]


def new_table(capacity: int) -> npt.NDArray[np.int64]:
    return aligned_zeros(capacity * 16).view(np.int64).reshape(capacity, 2)


@inline
def _hash(key):
    # Two multiply-xorshift rounds on 31-bit halves: packed cell ids differ only in a few
    # low bits of each half, so the mix must reach every output bit. Every product stays
    # below 2**63: no overflow in numba, no warning in pure-Python mode.
    h = (key & 0x7FFFFFFF) * 0x5BD1E995 + ((key >> 31) & 0x7FFFFFFF) * 0x27D4EB2F
    h ^= h >> 29
    h = (h & 0x7FFFFFFF) * 0x9E3779B1
    return h ^ (h >> 32)


@inline
def table_home(tab, key):
    """Row where probing for ``key`` starts (for prefetching)."""
    return _hash(key) & (tab.shape[0] - 1)


@inline
def table_find(tab, key):
    """Row of ``key`` in ``tab``, or -1."""
    mask = tab.shape[0] - 1
    i = table_home(tab, key)
    while True:
        k = tab[i, KEY]
        if k == key:
            return i
        if k == EMPTY:
            return -1
        i = (i + 1) & mask


@inline
def table_slot(tab, key):
    """Row holding ``key``, or the empty row where it belongs (caller fills it)."""
    mask = tab.shape[0] - 1
    i = table_home(tab, key)
    while True:
        k = tab[i, KEY]
        if k in (key, EMPTY):
            return i
        i = (i + 1) & mask


@inline
def table_link(tab, nexts, key, s):
    """Prepend slot ``s`` to ``key``'s list; return 1 if the key is new, else 0."""
    i = table_slot(tab, key)
    if tab[i, KEY] == EMPTY:
        tab[i, KEY] = key
        nexts[s] = END
        tab[i, VALUE] = s
        return 1
    nexts[s] = tab[i, VALUE]
    tab[i, VALUE] = s
    return 0
