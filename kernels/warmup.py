"""Compile (or load from the on-disk cache) every kernel once, on tiny inputs.

Call at worker start so the first real batch does not pay compilation; nothing compiles
at import time.
"""

from __future__ import annotations

import numpy as np

from kernels.dedup import close_cases, dedup_batch, evict
from kernels.grid import GridSpec, cell_ids, cells_to_tiles, project, tile_ids
from kernels.params import DedupParams
from kernels.segments import SegmentIndex
from kernels.state import DedupState, restore, snapshot
from kernels.unitgrid import UnitGridIndex
from kernels.walk import WalkParams, walk_tracks

__all__ = ["warmup"]


def warmup() -> None:
    spec = GridSpec(35.7, 114.3)
    lat, lon = np.array([35.7, 35.7001]), np.array([114.3, 114.3001])
    project(lat, lon, spec)
    cells = cell_ids(lat, lon, spec)
    cells_to_tiles(cells, spec, 1000.0)
    tile_ids(lat, lon, spec, 1000.0)
    params = DedupParams.build(
        2,
        radius_m=50.0,
        window_s=60,
        recurrence_window_s=60,
        allowed_lateness_s=60,
        max_open_age_s=60,
    )
    state = DedupState(spec)
    ids = np.array([1, 2], dtype=np.uint64)
    dedup_batch(state, params, ids, np.array([0, 1]), lat, lon, np.array([0, 1000]), ids)
    close_cases(state, params, ids, np.array([2000, 2000]))
    # The pipeline's own dtypes (uint16 categories, int64 times) take the one-pass check.
    cats = np.array([0, 1], dtype=np.uint16)
    dedup_batch(state, params, ids + 2, cats, lat, lon, np.array([10**7] * 2, dtype=np.int64), ids)
    evict(state, params)
    restore(snapshot(state))
    square = [[114.3, 35.7], [114.301, 35.7], [114.301, 35.701], [114.3, 35.701]]
    grid = UnitGridIndex.from_geojson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"grid_code": "410611001001001"},
                    "geometry": {"type": "Polygon", "coordinates": [square]},
                }
            ],
        },
        spec,
    )
    grid.lookup(lat, lon)
    streets = SegmentIndex.build(spec, [1], [0, 2], lat, lon, buffer_m=25.0)
    x, y = project(lat, lon, spec)
    walk = WalkParams.build(min_along_m=30.0, min_share=0.5, min_dwell_s=180.0, max_gap_s=120.0)
    walk_tracks(streets, walk, np.array([0, 0]), np.array([0, 1000]), x, y)
