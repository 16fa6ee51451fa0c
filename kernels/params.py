"""Frozen dedup parameters, one entry per category id (uint16, index into every array).

Which category's values apply when an event meets a case: the CASE's category gives
``radius_m``, ``window_s``, ``recurrence_window_s`` and ``max_open_age_s`` (the case is the
thing with a footprint and a lifetime); the EVENT's category gives ``allowed_lateness_s``.
``compat[a, b]`` says an event of ``a`` may join (or recur) a case of ``b``. A radius of 0
means "never merge": such a category's row and column of ``compat`` must be all false.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "KERNEL_PARAMS",
    "MAX_CATEGORIES",
    "MAX_DURATION_S",
    "P_COMPAT",
    "P_COMPAT_IDX",
    "P_COMPAT_PTR",
    "P_LATENESS_MS",
    "P_MAX_OPEN_AGE_MS",
    "P_RADIUS_M",
    "P_RECURRENCE_MS",
    "P_SEARCH_RADIUS_M",
    "P_WINDOW_MS",
    "DedupParams",
]

MAX_CATEGORIES = 1 << 16
MAX_DURATION_S = 100 * 366 * 86400  # keeps every time sum far below int64 overflow
MAX_RADIUS_M = 100_000.0

# The arrays ``DedupParams.kernel_args`` hands the kernels, in this order. Kernels index
# that tuple with the ints below: numba needs a compile-time constant to index a tuple of
# differently typed arrays, and freezes module-level ints as such. Each is looked up by
# name, so it follows any change of order (a name added without its int fails
# tests/unit/kernels/test_kernels_layout.py).
KERNEL_PARAMS = (
    "radius_m",
    "window_ms",
    "compat",
    "recurrence_ms",
    "lateness_ms",
    "max_open_age_ms",
    "search_radius_m",
    "compat_ptr",
    "compat_idx",
)
P_RADIUS_M = KERNEL_PARAMS.index("radius_m")
P_WINDOW_MS = KERNEL_PARAMS.index("window_ms")
P_COMPAT = KERNEL_PARAMS.index("compat")
P_RECURRENCE_MS = KERNEL_PARAMS.index("recurrence_ms")
P_LATENESS_MS = KERNEL_PARAMS.index("lateness_ms")
P_MAX_OPEN_AGE_MS = KERNEL_PARAMS.index("max_open_age_ms")
P_SEARCH_RADIUS_M = KERNEL_PARAMS.index("search_radius_m")
P_COMPAT_PTR = KERNEL_PARAMS.index("compat_ptr")
P_COMPAT_IDX = KERNEL_PARAMS.index("compat_idx")


def _per_category(name: str, value: Any, n: int, *, integer_ms: bool) -> npt.NDArray[Any]:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {a.shape}")
    limit = MAX_DURATION_S if integer_ms else MAX_RADIUS_M
    bad = ~(np.isfinite(a) & (a >= 0) & (a <= limit))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {a[i]!r} is not a number in [0, {limit}]")
    if integer_ms:
        return np.round(a * 1000.0).astype(np.int64)
    return a


def _readonly(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a = np.ascontiguousarray(a).copy()
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class DedupParams:
    """Per-category arrays; durations are stored in milliseconds. Use :meth:`build`."""

    radius_m: npt.NDArray[np.float64]
    window_ms: npt.NDArray[np.int64]
    compat: npt.NDArray[np.bool_]
    recurrence_ms: npt.NDArray[np.int64]
    lateness_ms: npt.NDArray[np.int64]
    max_open_age_ms: npt.NDArray[np.int64]
    search_radius_m: npt.NDArray[np.float64]  # derived: max radius of compatible cases
    # derived: the categories compatible with category a are
    # compat_idx[compat_ptr[a]:compat_ptr[a + 1]] (CSR), so kernels visit only those
    compat_ptr: npt.NDArray[np.int64]
    compat_idx: npt.NDArray[np.int64]

    @classmethod
    def build(
        cls,
        n_categories: int,
        *,
        radius_m: Any,
        window_s: Any,
        recurrence_window_s: Any,
        allowed_lateness_s: Any,
        max_open_age_s: Any,
        compat: Any = None,
    ) -> DedupParams:
        """Scalars broadcast to every category; ``compat=None`` = same category only."""
        if not isinstance(n_categories, int) or not 1 <= n_categories <= MAX_CATEGORIES:
            raise ValueError(f"n_categories must be an int in [1, 65536], got {n_categories!r}")
        n = n_categories
        radius = _per_category("radius_m", radius_m, n, integer_ms=False)
        if compat is None:
            c = np.diag(radius > 0)
        else:
            c = np.asarray(compat)
            if c.dtype != np.bool_:
                raise ValueError(f"compat must be a boolean matrix, got dtype {c.dtype}")
        if c.shape != (n, n):
            raise ValueError(f"compat must have shape ({n}, {n}), got {c.shape}")
        if not np.array_equal(c, c.T):
            raise ValueError("compat must be symmetric")
        mergeable = radius > 0
        if not np.array_equal(np.diag(c), mergeable):
            i = int(np.flatnonzero(np.diag(c) != mergeable)[0])
            raise ValueError(
                f"compat[{i}, {i}] must be {bool(mergeable[i])}: the diagonal is true exactly "
                "where radius_m > 0"
            )
        if c[~mergeable].any():
            i = int(np.flatnonzero(c[~mergeable].any(axis=1))[0])
            raise ValueError(
                f"category {np.flatnonzero(~mergeable)[i]} has radius 0 (never "
                "merge) but compat marks it compatible with another category"
            )
        search = np.where(c, radius[None, :], 0.0).max(axis=1)
        rows, cols = np.nonzero(c)  # row-major: grouped by event category
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
        return cls(
            radius_m=_readonly(radius),
            window_ms=_readonly(_per_category("window_s", window_s, n, integer_ms=True)),
            compat=_readonly(c),
            recurrence_ms=_readonly(
                _per_category("recurrence_window_s", recurrence_window_s, n, integer_ms=True)
            ),
            lateness_ms=_readonly(
                _per_category("allowed_lateness_s", allowed_lateness_s, n, integer_ms=True)
            ),
            max_open_age_ms=_readonly(
                _per_category("max_open_age_s", max_open_age_s, n, integer_ms=True)
            ),
            search_radius_m=_readonly(search),
            compat_ptr=_readonly(ptr),
            compat_idx=_readonly(cols.astype(np.int64)),
        )

    @property
    def n_categories(self) -> int:
        return int(self.radius_m.shape[0])

    @property
    def max_lateness_ms(self) -> int:
        return int(self.lateness_ms.max())

    def kernel_args(self) -> tuple[npt.NDArray[Any], ...]:
        """The per-category arrays in ``KERNEL_PARAMS`` order, as the kernels take them."""
        return tuple(getattr(self, name) for name in KERNEL_PARAMS)
