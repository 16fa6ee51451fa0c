"""Bucketing kernels against the pure-Python reference, plus geometry sanity checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import (
    GridSpec,
    cell_ids,
    cells_to_tiles,
    neighbour_cells,
    pack_cells,
    project,
    tile_ids,
    unpack_cells,
)
from kernels.reference import ref_cell_ids, ref_neighbour_cells, ref_project, ref_tile_ids

SPEC = GridSpec(35.7331, 114.2972, 100.0)

# Positions within ~30 km of the origin, plus exact cell-border multiples below.
lats = st.floats(35.45, 36.0, allow_nan=False)
lons = st.floats(113.95, 114.65, allow_nan=False)
points = st.lists(st.tuples(lats, lons), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, database=None)
@given(points, st.sampled_from([1.0, 25.0, 100.0, 333.3]))
def test_cells_and_projection_match_reference(pts: list[tuple[float, float]], cell: float) -> None:
    spec = GridSpec(SPEC.origin_lat, SPEC.origin_lon, cell)
    lat, lon = np.array(pts).T
    x, y = project(lat, lon, spec)
    rx, ry = ref_project(lat, lon, spec)
    assert x.tolist() == rx and y.tolist() == ry
    assert cell_ids(lat, lon, spec).tolist() == ref_cell_ids(lat, lon, spec)


@settings(max_examples=40, deadline=None, database=None)
@given(points, st.sampled_from([100.0, 500.0, 2000.0]))
def test_tiles_match_reference_and_contain_their_cells(
    pts: list[tuple[float, float]], tile: float
) -> None:
    lat, lon = np.array(pts).T
    tiles = tile_ids(lat, lon, SPEC, tile)
    assert tiles.tolist() == ref_tile_ids(lat, lon, SPEC, tile)
    assert np.array_equal(cells_to_tiles(cell_ids(lat, lon, SPEC), SPEC, tile), tiles)
    tx, ty = unpack_cells(tiles)
    x, y = project(lat, lon, SPEC)
    # The tile's metric square holds the point (tile = k whole cells).
    assert np.all(tx * tile <= x + 1e-6) and np.all(x < (tx + 1) * tile + 1e-6)
    assert np.all(ty * tile <= y + 1e-6) and np.all(y < (ty + 1) * tile + 1e-6)


def test_cell_borders_are_half_open() -> None:
    # A point exactly on a border belongs to the cell on its east/north side.
    lat = SPEC.origin_lat + np.array([0.0, 0.0, 0.0])
    lon = SPEC.origin_lon + np.array([0.0, -1e-9, 1e-9])
    ix, iy = unpack_cells(cell_ids(lat, lon, SPEC))
    assert ix.tolist() == [0, -1, 0] and iy.tolist() == [0, 0, 0]


@settings(database=None)
@given(st.integers(-(2**30), 2**30 - 1), st.integers(-(2**30), 2**30 - 1))
def test_pack_unpack_round_trip(ix: int, iy: int) -> None:
    c = pack_cells([ix], [iy])
    assert c[0] >= 0
    gx, gy = unpack_cells(c)
    assert (int(gx[0]), int(gy[0])) == (ix, iy)


@pytest.mark.parametrize("rings", [0, 1, 2])
def test_neighbour_cells(rings: int) -> None:
    c = int(cell_ids([SPEC.origin_lat - 0.001], [SPEC.origin_lon - 0.001], SPEC)[0])
    got = neighbour_cells(c, SPEC, rings)
    assert got.tolist() == ref_neighbour_cells(c, rings)
    assert len(set(got.tolist())) == (2 * rings + 1) ** 2
    ix, iy = unpack_cells(got)
    cx, cy = unpack_cells([c])
    assert np.abs(ix - cx[0]).max() == rings and np.abs(iy - cy[0]).max() == rings


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * r * math.asin(math.sqrt(a))


def test_projection_distance_error_is_small_within_15_km() -> None:
    rng = np.random.default_rng(11)
    a = SPEC.origin_lat + rng.uniform(-0.13, 0.13, (200, 2))
    o = SPEC.origin_lon + rng.uniform(-0.16, 0.16, (200, 2))
    x, y = project(a.ravel(), o.ravel(), SPEC)
    x, y = x.reshape(200, 2), y.reshape(200, 2)
    planar = np.hypot(x[:, 0] - x[:, 1], y[:, 0] - y[:, 1])
    true = np.array([_haversine_m(a[i, 0], o[i, 0], a[i, 1], o[i, 1]) for i in range(200)])
    # The sphere in haversine differs from the ellipsoid by up to ~0.5 %; the planar
    # approximation must stay within that plus the documented 0.2 %.
    assert np.max(np.abs(planar / true - 1)) < 0.008


@pytest.mark.parametrize(
    ("lat", "lon", "msg"),
    [
        ([np.nan], [114.0], "NaN or out of range"),
        ([91.0], [114.0], "NaN or out of range"),
        ([35.0], [-180.5], "NaN or out of range"),
        ([35.0, 35.1], [114.0], "differ in length"),
        ([[35.0]], [[114.0]], "1-D"),
    ],
)
def test_bad_positions_are_rejected(lat: list[float], lon: list[float], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        cell_ids(lat, lon, SPEC)


def test_bad_specs_and_tiles_are_rejected() -> None:
    with pytest.raises(ValueError, match="cell_size_m"):
        GridSpec(35.0, 114.0, 0.5)
    with pytest.raises(ValueError, match="origin_lat"):
        GridSpec(float("nan"), 114.0)
    with pytest.raises(ValueError, match="whole multiple"):
        tile_ids([35.7], [114.3], SPEC, 250.0)
    with pytest.raises(ValueError, match="rings"):
        neighbour_cells(0, SPEC, -1)
    with pytest.raises(ValueError, match="non-negative"):
        unpack_cells([-1])


def test_empty_input_gives_empty_output() -> None:
    assert cell_ids([], [], SPEC).shape == (0,)
