"""Pure numba kernels: spatial bucketing, unit-grid lookup, spatio-temporal dedup.

Arrays and scalars in, arrays out; no I/O. Each kernel has a validating wrapper (the
functions below) and a pure-Python twin in ``kernels.reference``.
"""

from kernels.dedup import (
    REJECTED,
    StateFullError,
    close_cases,
    dedup_batch,
    evict,
    watermark,
)
from kernels.grid import (
    GridSpec,
    cell_ids,
    cells_to_tiles,
    neighbour_cells,
    pack_cells,
    project,
    tile_ids,
    unpack_cells,
)
from kernels.params import DedupParams
from kernels.state import DedupState, restore, snapshot
from kernels.unitgrid import UnitGridIndex
from kernels.warmup import warmup

__all__ = [
    "REJECTED",
    "DedupParams",
    "DedupState",
    "GridSpec",
    "StateFullError",
    "UnitGridIndex",
    "cell_ids",
    "cells_to_tiles",
    "close_cases",
    "dedup_batch",
    "evict",
    "neighbour_cells",
    "pack_cells",
    "project",
    "restore",
    "snapshot",
    "tile_ids",
    "unpack_cells",
    "warmup",
    "watermark",
]
