"""Pure numba kernels: spatial bucketing, unit-grid lookup, spatio-temporal dedup, streets
walked from patrol tracks.

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
from kernels.segments import SegmentIndex
from kernels.state import DedupState, restore, snapshot
from kernels.unitgrid import UnitGridIndex
from kernels.walk import Matches, WalkParams, Walks, match_points, walk_tracks
from kernels.warmup import warmup

__all__ = [
    "REJECTED",
    "DedupParams",
    "DedupState",
    "GridSpec",
    "Matches",
    "SegmentIndex",
    "StateFullError",
    "UnitGridIndex",
    "WalkParams",
    "Walks",
    "cell_ids",
    "cells_to_tiles",
    "close_cases",
    "dedup_batch",
    "evict",
    "match_points",
    "neighbour_cells",
    "pack_cells",
    "project",
    "restore",
    "snapshot",
    "tile_ids",
    "unpack_cells",
    "walk_tracks",
    "warmup",
    "watermark",
]
