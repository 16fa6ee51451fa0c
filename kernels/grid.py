"""Spatial bucketing: WGS84 to a local metric plane, square cells, coarse tiles.

Projection: a local equirectangular plane about the grid origin, scaled by the WGS84
ellipsoid's radii of curvature at the origin latitude (meridian ``M`` for north, prime
vertical ``N cos(lat0)`` for east). Within 15 km of the origin at the latitude of Henan
(~36°) the east scale drifts by about ``tan(lat0) * dlat`` = 0.17 %, i.e. 0.17 m on a 100 m
distance; north scale error is far smaller. That is well inside GPS error, so a district
needs nothing heavier. The antimeridian is not handled (no district straddles it).

Cells: ``ix = floor(x / cell)``, ``iy = floor(y / cell)`` (computed as ``x * (1/cell)``, the
exact same float operations everywhere, so kernels, dedup and references agree bit for
bit). A cell id packs both indices into one non-negative int64:
``(ix + 2**30) << 32 | (iy + 2**30)``. Tiles are blocks of ``k x k`` cells (``k`` =
tile size / cell size, an integer), so every cell lies in exactly one tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kernels._jit import ngjit

__all__ = [
    "CELL_OFFSET",
    "GRID_ARGS",
    "G_INV_CELL",
    "G_KX",
    "G_KY",
    "G_ORIGIN_LAT",
    "G_ORIGIN_LON",
    "GridSpec",
    "cell_ids",
    "cells_to_tiles",
    "coerce_latlon",
    "neighbour_cells",
    "pack_cells",
    "project",
    "tile_ids",
    "unpack_cells",
]

CELL_OFFSET = 1 << 30  # added to ix, iy so negative indices pack into a non-negative id
# What ``GridSpec.kernel_args`` hands the dedup kernels, in this order; kernels read that
# tuple with the ints below (module-level ints: numba freezes them as constants), each
# looked up by name so it follows any change of order.
GRID_ARGS = ("origin_lat", "origin_lon", "kx", "ky", "inv_cell")
G_ORIGIN_LAT = GRID_ARGS.index("origin_lat")
G_ORIGIN_LON = GRID_ARGS.index("origin_lon")
G_KX = GRID_ARGS.index("kx")
G_KY = GRID_ARGS.index("ky")
G_INV_CELL = GRID_ARGS.index("inv_cell")
_LOW32 = (1 << 32) - 1
_WGS84_A = 6378137.0
_WGS84_F = 1.0 / 298.257223563

F8Array = npt.NDArray[np.float64]
I8Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class GridSpec:
    """Origin (decimal degrees) and cell size (metres) of a district's metric grid."""

    origin_lat: float
    origin_lon: float
    cell_size_m: float = 100.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.origin_lat) and -85.0 <= self.origin_lat <= 85.0):
            raise ValueError(f"GridSpec.origin_lat must be in [-85, 85], got {self.origin_lat!r}")
        if not (math.isfinite(self.origin_lon) and -180.0 <= self.origin_lon <= 180.0):
            raise ValueError(f"GridSpec.origin_lon must be in [-180, 180], got {self.origin_lon!r}")
        # >= 1 m keeps every cell index of the globe below 2**30 (see CELL_OFFSET).
        if not (math.isfinite(self.cell_size_m) and 1.0 <= self.cell_size_m <= 1e6):
            raise ValueError(
                f"GridSpec.cell_size_m must be in [1, 1e6] metres, got {self.cell_size_m!r}"
            )

    @property
    def kx(self) -> float:
        """Metres per degree of longitude at the origin."""
        phi = math.radians(self.origin_lat)
        e2 = _WGS84_F * (2.0 - _WGS84_F)
        n = _WGS84_A / math.sqrt(1.0 - e2 * math.sin(phi) ** 2)
        return n * math.cos(phi) * math.pi / 180.0

    @property
    def ky(self) -> float:
        """Metres per degree of latitude at the origin."""
        phi = math.radians(self.origin_lat)
        e2 = _WGS84_F * (2.0 - _WGS84_F)
        w = math.sqrt(1.0 - e2 * math.sin(phi) ** 2)
        return _WGS84_A * (1.0 - e2) / w**3 * math.pi / 180.0

    @property
    def inv_cell(self) -> float:
        return 1.0 / self.cell_size_m

    def kernel_args(self) -> tuple[float, ...]:
        """Origin, metres per degree and 1 / cell size, in ``GRID_ARGS`` order."""
        return tuple(getattr(self, name) for name in GRID_ARGS)

    def tile_factor(self, tile_size_m: float) -> int:
        """Cells per tile side; the tile size must be a whole multiple of the cell size."""
        k = tile_size_m / self.cell_size_m
        if not (math.isfinite(k) and k >= 1.0 and abs(k - round(k)) < 1e-9):
            raise ValueError(
                f"tile_size_m ({tile_size_m!r}) must be a whole multiple (>= 1) of "
                f"cell_size_m ({self.cell_size_m!r})"
            )
        return round(k)


# -- kernels ---------------------------------------------------------------------------


@ngjit
def _latlon_all_valid(lat: F8Array, lon: F8Array) -> bool:
    # Branch-free reduction (vectorises); NaN fails every comparison so it is caught too.
    ok = True
    for i in range(lat.shape[0]):
        ok &= (lat[i] >= -90.0) & (lat[i] <= 90.0) & (lon[i] >= -180.0) & (lon[i] <= 180.0)
    return ok


@ngjit
def _project_kernel(lat, lon, lat0, lon0, kx, ky, x_out, y_out):
    for i in range(lat.shape[0]):
        x_out[i] = (lon[i] - lon0) * kx
        y_out[i] = (lat[i] - lat0) * ky


@ngjit
def _cell_ids_kernel(lat, lon, lat0, lon0, kx, ky, inv, out):
    # Same float operations, in the same order, as project() followed by floor(x * inv).
    for i in range(lat.shape[0]):
        ix = np.int64(np.floor((lon[i] - lon0) * kx * inv))
        iy = np.int64(np.floor((lat[i] - lat0) * ky * inv))
        out[i] = ((ix + CELL_OFFSET) << 32) | (iy + CELL_OFFSET)


@ngjit
def _cells_to_tiles_kernel(cells, k, out):
    for i in range(cells.shape[0]):
        ix = (cells[i] >> 32) - CELL_OFFSET
        iy = (cells[i] & _LOW32) - CELL_OFFSET
        out[i] = (((ix // k) + CELL_OFFSET) << 32) | ((iy // k) + CELL_OFFSET)


# -- wrappers --------------------------------------------------------------------------


def coerce_latlon(lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[F8Array, F8Array]:
    """Return C-contiguous 1-D float64 copies/views, or raise ValueError on bad input."""
    la = np.ascontiguousarray(lat, dtype=np.float64)
    lo = np.ascontiguousarray(lon, dtype=np.float64)
    if la.ndim != 1 or lo.ndim != 1:
        raise ValueError(f"lat and lon must be 1-D, got shapes {la.shape} and {lo.shape}")
    if la.shape != lo.shape:
        raise ValueError(f"lat and lon differ in length: {la.shape[0]} != {lo.shape[0]}")
    if not _latlon_all_valid(la, lo):
        bad = ~((la >= -90) & (la <= 90) & (lo >= -180) & (lo <= 180))
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{int(bad.sum())} position(s) are NaN or out of range; first at index {i}: "
            f"lat={la[i]!r}, lon={lo[i]!r}"
        )
    return la, lo


def project(lat: npt.ArrayLike, lon: npt.ArrayLike, spec: GridSpec) -> tuple[F8Array, F8Array]:
    """WGS84 degrees to local metres (x east, y north) about ``spec``'s origin."""
    la, lo = coerce_latlon(lat, lon)
    x = np.empty_like(la)
    y = np.empty_like(la)
    _project_kernel(la, lo, spec.origin_lat, spec.origin_lon, spec.kx, spec.ky, x, y)
    return x, y


def cell_ids(lat: npt.ArrayLike, lon: npt.ArrayLike, spec: GridSpec) -> I8Array:
    """Packed int64 cell id of every position."""
    la, lo = coerce_latlon(lat, lon)
    out = np.empty(la.shape[0], dtype=np.int64)
    _cell_ids_kernel(la, lo, spec.origin_lat, spec.origin_lon, spec.kx, spec.ky, spec.inv_cell, out)
    return out


def tile_ids(lat: npt.ArrayLike, lon: npt.ArrayLike, spec: GridSpec, tile_size_m: float) -> I8Array:
    """Packed int64 id of the coarse tile (Kafka key) holding every position."""
    k = spec.tile_factor(tile_size_m)
    cells = cell_ids(lat, lon, spec)
    _cells_to_tiles_kernel(cells, np.int64(k), cells)  # in place: each slot read then written
    return cells


def cells_to_tiles(cells: npt.ArrayLike, spec: GridSpec, tile_size_m: float) -> I8Array:
    """Tile id of every packed cell id."""
    k = spec.tile_factor(tile_size_m)
    c = _coerce_cells(cells)
    out = np.empty_like(c)
    _cells_to_tiles_kernel(c, np.int64(k), out)
    return out


def pack_cells(ix: npt.ArrayLike, iy: npt.ArrayLike) -> I8Array:
    """Pack integer cell indices (each within +-2**30) into cell ids."""
    a = np.asarray(ix, dtype=np.int64)
    b = np.asarray(iy, dtype=np.int64)
    if a.shape != b.shape:
        raise ValueError(f"ix and iy differ in shape: {a.shape} != {b.shape}")
    for name, v in (("ix", a), ("iy", b)):
        if v.size and (v.min() < -CELL_OFFSET or v.max() >= CELL_OFFSET):
            raise ValueError(f"{name} out of range +-2**30")
    return ((a + CELL_OFFSET) << 32) | (b + CELL_OFFSET)


def unpack_cells(cells: npt.ArrayLike) -> tuple[I8Array, I8Array]:
    """Inverse of :func:`pack_cells`."""
    c = _coerce_cells(cells)
    return (c >> 32) - CELL_OFFSET, (c & _LOW32) - CELL_OFFSET


def neighbour_cells(cell_id: int, spec: GridSpec, rings: int = 1) -> I8Array:
    """Cell ids of the ``(2*rings+1)**2`` block centred on ``cell_id`` (row-major by ix).

    ``rings=1`` is the 3x3 block. To cover every point within ``r`` metres of any point in
    the cell use ``rings = ceil(r / spec.cell_size_m)``.
    """
    del spec  # the block is pure index arithmetic; spec kept for a uniform call shape
    if not isinstance(rings, int | np.integer) or rings < 0 or rings > 1000:
        raise ValueError(f"rings must be an int in [0, 1000], got {rings!r}")
    ix, iy = unpack_cells(np.array([cell_id], dtype=np.int64))
    d = np.arange(-int(rings), int(rings) + 1, dtype=np.int64)
    gx, gy = np.meshgrid(ix[0] + d, iy[0] + d, indexing="ij")
    return pack_cells(gx.ravel(), gy.ravel())


def _coerce_cells(cells: npt.ArrayLike) -> I8Array:
    c = np.ascontiguousarray(cells, dtype=np.int64)
    if c.ndim != 1:
        raise ValueError(f"cell ids must be 1-D, got shape {c.shape}")
    if c.size and c.min() < 0:
        raise ValueError("cell ids must be non-negative (packed with CELL_OFFSET)")
    return c
