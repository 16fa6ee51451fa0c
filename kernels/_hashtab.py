"""Open-addressing (linear probing) int64 -> int32 hash tables for numba kernels.

A table is two arrays of the same power-of-two length: ``keys`` (int64, 0 = empty: 0 is
reserved for event/device ids and impossible for packed cell ids) and ``vals`` (int32, a
slot of the case arrays). There is no deletion: eviction compacts the case arrays and
rebuilds every table, which keeps probing simple and fast. Callers keep the load factor
at or below one half (see ``table_capacity``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kernels._jit import ngjit

__all__ = ["EMPTY", "new_table", "table_capacity", "table_find", "table_slot"]

EMPTY = 0
MIN_TABLE = 16


def table_capacity(n_keys: int) -> int:
    """Smallest power of two holding ``n_keys`` at load factor <= 1/2."""
    cap = MIN_TABLE
    while cap < 2 * n_keys:
        cap *= 2
    return cap


def new_table(capacity: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    return np.zeros(capacity, dtype=np.int64), np.full(capacity, -1, dtype=np.int32)


@ngjit
def _hash(key):
    # Two multiply-xorshift rounds on 31-bit halves: packed cell ids differ only in a few
    # low bits of each half, so the mix must reach every output bit. Every product stays
    # below 2**63: no overflow in numba, no warning in pure-Python mode.
    h = (key & 0x7FFFFFFF) * 0x5BD1E995 + ((key >> 31) & 0x7FFFFFFF) * 0x27D4EB2F
    h ^= h >> 29
    h = (h & 0x7FFFFFFF) * 0x9E3779B1
    return h ^ (h >> 32)


@ngjit
def table_find(keys, key):
    """Index of ``key`` in ``keys``, or -1."""
    mask = keys.shape[0] - 1
    i = _hash(key) & mask
    while True:
        k = keys[i]
        if k == key:
            return i
        if k == EMPTY:
            return -1
        i = (i + 1) & mask


@ngjit
def table_slot(keys, key):
    """Index holding ``key``, or the empty index where it belongs (caller fills it)."""
    mask = keys.shape[0] - 1
    i = _hash(key) & mask
    while True:
        k = keys[i]
        if k in (key, EMPTY):
            return i
        i = (i + 1) & mask
