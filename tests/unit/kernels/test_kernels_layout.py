"""The named positions kernels read their argument tuples with, against the declared orders.

Kernels take columns, parameters, index arrays, ``meta``, the grid and the batch as tuples
and read them through module-level ints (``C_*``, ``P_*``, ...). These tests make a name
added to an order without its int, or an int out of step with its order, fail here rather
than as a kernel quietly reading the wrong array.
"""

from __future__ import annotations

import dataclasses
import re
from types import ModuleType

import numpy as np
import pytest
from kernel_feeds import SPEC

from kernels import DedupParams, DedupState, _dedup_kernels, dedup_batch, grid, state
from kernels import params as params_module
from kernels.params import KERNEL_PARAMS

LAYOUTS = [
    (state, "C_", state.COLUMN_NAMES),
    (state, "I_", state.INDEX_ARRAYS),
    (state, "M_", state.META),
    (params_module, "P_", KERNEL_PARAMS),
    (grid, "G_", grid.GRID_ARGS),
    (_dedup_kernels, "E_", _dedup_kernels.EVENT_ARRAYS),
]


@pytest.mark.parametrize(("module", "prefix", "order"), LAYOUTS, ids=[p for _, p, _ in LAYOUTS])
def test_every_name_has_its_position_and_no_other(
    module: ModuleType, prefix: str, order: tuple[str, ...]
) -> None:
    assert len(set(order)) == len(order), order
    want = {prefix + name.upper(): i for i, name in enumerate(order)}
    have = {
        key: value
        for key, value in vars(module).items()
        if re.fullmatch(re.escape(prefix) + r"[A-Z0-9_]+", key)
    }
    assert have == want
    # Plain ints: numba freezes those as the constants that index a heterogeneous tuple.
    assert all(type(value) is int for value in have.values())


def test_columns_order_is_the_state_columns() -> None:
    assert tuple(name for name, _ in state.COLUMNS) == state.COLUMN_NAMES


def test_params_kernel_args_follow_the_declared_order(params: DedupParams) -> None:
    fields = {f.name for f in dataclasses.fields(DedupParams)}
    assert set(KERNEL_PARAMS) <= fields
    args = params.kernel_args()
    assert len(args) == len(KERNEL_PARAMS)
    for name, arr in zip(KERNEL_PARAMS, args, strict=True):
        assert arr is getattr(params, name), name


def test_state_kernel_args_follow_the_declared_orders(params: DedupParams) -> None:
    s = DedupState(SPEC)
    dedup_batch(
        s, params, [5, 6], [1, 3], [SPEC.origin_lat] * 2, [SPEC.origin_lon] * 2, [7, 9], [0, 4]
    )
    cols, idx, meta = s.kernel_args()
    assert len(cols) == len(state.COLUMN_NAMES)
    for name, arr in zip(state.COLUMN_NAMES, cols, strict=True):
        assert arr is s.cols[name], name
    assert len(idx) == len(state.INDEX_ARRAYS)
    for name, arr in zip(state.INDEX_ARRAYS, idx, strict=True):
        assert arr is getattr(s, name), name
    assert meta is s.meta and meta.shape == (len(state.META),)
    assert meta[state.M_N_CASES] == s.n == 2
    assert meta[state.M_MAX_T] == s.max_t == 9
    assert meta[state.M_N_CATEGORIES] == 4  # 1 + the largest category stored
    assert meta[state.M_N_DEVICE_KEYS] == 1  # device 0 is no device
    assert cols[state.C_CASE_ID][:2].tolist() == [5, 6]
    assert cols[state.C_CLOSED_T][0] == state.OPEN


def test_fresh_state_meta_starts_before_any_event() -> None:
    meta = DedupState(SPEC).meta
    assert meta[state.M_MAX_T] == state.NO_TIME
    assert np.count_nonzero(meta) == 1


def test_grid_kernel_args_follow_the_declared_order() -> None:
    args = SPEC.kernel_args()
    assert args == tuple(getattr(SPEC, name) for name in grid.GRID_ARGS)
    assert args[grid.G_INV_CELL] == 1.0 / SPEC.cell_size_m
