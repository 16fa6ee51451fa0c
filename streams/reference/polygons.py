"""Polygon layers of a district (its boundary, its unit grids): read from GeoJSON, checked,
and measured by scanline rasterisation on a metric lattice (areas of overlaps and gaps).

Pure numpy on purpose: the product depends on no GIS library (shapely is a benchmark peer
only). Every problem found is reported as ``<file>: feature <n> (<label>): <what>`` so the
person who drew the file can find it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

__all__ = [
    "Lattice",
    "PolygonError",
    "Ring",
    "Shape",
    "read_features",
    "read_shapes",
    "rings_for_index",
]

Ring = tuple[tuple[float, float], ...]  # (lon, lat), closed: first == last
_M_PER_DEG = 111_320.0
_ROW_CHUNK = 512  # lattice rows scanned at once (rows x edges floats in memory)


class PolygonError(ValueError):
    """A polygon file cannot be read at all (not JSON, not GeoJSON)."""


@dataclass(frozen=True)
class Shape:
    """One feature: its position in the file, a label naming it, its polygons (each an outer
    ring and its holes)."""

    feature: int
    label: str
    properties: dict[str, Any]
    polygons: tuple[tuple[Ring, ...], ...]


def read_features(path: Path) -> list[Any]:
    """The features of a GeoJSON FeatureCollection, a single Feature or a bare geometry."""
    if not path.is_file():
        raise PolygonError(f"{path}: no such file")
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise PolygonError(f"{path.name}: not JSON: {exc}") from None
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list) or not features:
            raise PolygonError(f"{path.name}: the FeatureCollection has no features")
        return features
    if kind == "Feature":
        return [doc]
    if kind in ("Polygon", "MultiPolygon", "LineString", "MultiLineString"):
        return [{"type": "Feature", "properties": {}, "geometry": doc}]
    raise PolygonError(f"{path.name}: not GeoJSON (type {kind!r})")


def _ring(raw: Any, what: str, errors: list[str]) -> Ring | None:
    try:
        pts = tuple((float(p[0]), float(p[1])) for p in raw)
    except (TypeError, ValueError, IndexError):
        errors.append(f"{what}: positions are not [lon, lat] pairs")
        return None
    bad = next(
        (p for p in pts if not (-180.0 <= p[0] <= 180.0 and -90.0 <= p[1] <= 90.0)), None
    )  # NaN fails the comparison too
    if bad is not None:
        errors.append(f"{what}: position {bad} is not (lon, lat) in WGS84 degrees")
        return None
    if len(pts) < 4 or pts[0] != pts[-1]:
        ends = f"starts at {pts[0]}, ends at {pts[-1]}" if pts else "is empty"
        errors.append(f"{what}: ring is not closed (needs >= 4 positions, first == last; {ends})")
        return None
    if len(set(pts)) < 3:
        errors.append(f"{what}: ring has fewer than 3 distinct positions")
        return None
    return pts


def _polygons(geom: Any, where: str, errors: list[str]) -> tuple[tuple[Ring, ...], ...]:
    kind = geom.get("type") if isinstance(geom, dict) else None
    coords = geom.get("coordinates") if isinstance(geom, dict) else None
    if kind == "Polygon":
        parts = [coords]
    elif kind == "MultiPolygon" and isinstance(coords, list):
        parts = coords
    else:
        errors.append(f"{where}: geometry must be a Polygon or MultiPolygon, got {kind!r}")
        return ()
    out = []
    for i, part in enumerate(parts):
        if not isinstance(part, list) or not part:
            errors.append(f"{where}: polygon {i} has no rings")
            continue
        rings = [_ring(r, f"{where}: polygon {i} ring {j}", errors) for j, r in enumerate(part)]
        if all(r is not None for r in rings):
            out.append(tuple(r for r in rings if r is not None))
    return tuple(out)


def read_shapes(path: Path, label_key: str | None, errors: list[str]) -> list[Shape]:
    """The polygon features of ``path``; problems are appended to ``errors``."""
    shapes = []
    for n, feat in enumerate(read_features(path)):
        props = feat.get("properties") if isinstance(feat, dict) else None
        props = props if isinstance(props, dict) else {}
        label = f"{label_key} {props.get(label_key)}" if label_key else ""
        where = f"{path.name}: feature {n}" + (f" ({label})" if label else "")
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        polys = _polygons(geom, where, errors)
        if polys:
            shapes.append(Shape(n, label, props, polys))
    return shapes


def rings_for_index(
    shapes: list[Shape], code: int
) -> list[tuple[int, list[list[tuple[float, float]]]]]:
    """Polygons as ``kernels.UnitGridIndex.from_polygons`` takes them (closing vertex dropped)."""
    return [
        (code, [list(ring[:-1]) for ring in poly]) for shape in shapes for poly in shape.polygons
    ]


@dataclass(frozen=True)
class Lattice:
    """Sample points at the centres of ``step`` metre cells over a box, on an equirectangular
    projection around the box's middle (metres; plenty for areas of a district)."""

    lat0: float
    lon0: float
    kx: float  # metres per degree of longitude
    step: float
    nx: int
    ny: int

    @classmethod
    def over(cls, shapes: list[Shape], max_points: int, min_step_m: float) -> Lattice:
        lons = [p[0] for s in shapes for poly in s.polygons for r in poly for p in r]
        lats = [p[1] for s in shapes for poly in s.polygons for r in poly for p in r]
        lat0, lon0 = min(lats), min(lons)
        kx = _M_PER_DEG * math.cos(math.radians((min(lats) + max(lats)) / 2))
        width, height = (max(lons) - lon0) * kx, (max(lats) - lat0) * _M_PER_DEG
        step = max(min_step_m, math.sqrt(width * height / max_points))
        return cls(lat0, lon0, kx, step, int(width / step) + 1, int(height / step) + 1)

    @property
    def cell_m2(self) -> float:
        return self.step * self.step

    def position(self, row: int, col: int) -> tuple[float, float]:
        """(lat, lon) of a sample point."""
        return (
            self.lat0 + (row + 0.5) * self.step / _M_PER_DEG,
            self.lon0 + (col + 0.5) * self.step / self.kx,
        )

    def mask(self, shape: Shape) -> tuple[slice, slice, np.ndarray]:
        """The sample points inside ``shape`` (even-odd: holes are outside), as a boolean
        array over the rows and columns of the shape's box."""
        edges = self._edges(shape)
        x_lo, x_hi = edges[:, [0, 2]].min(), edges[:, [0, 2]].max()
        y_lo, y_hi = edges[:, [1, 3]].min(), edges[:, [1, 3]].max()
        r0, r1 = max(0, int(y_lo / self.step) - 1), min(self.ny, int(y_hi / self.step) + 2)
        c0, c1 = max(0, int(x_lo / self.step) - 1), min(self.nx, int(x_hi / self.step) + 2)
        out = np.zeros((r1 - r0, c1 - c0), dtype=bool)
        for start in range(r0, r1, _ROW_CHUNK):
            stop = min(r1, start + _ROW_CHUNK)
            out[start - r0 : stop - r0] = self._scan(edges, start, stop, c0, c1)
        return slice(r0, r1), slice(c0, c1), out

    def _edges(self, shape: Shape) -> np.ndarray:
        """Every edge as (x_low, y_low, x_high, y_high): ordered by y so that both polygons
        sharing an edge compute the very same crossings."""
        rows = []
        for poly in shape.polygons:
            for ring in poly:
                pts = np.asarray(ring, dtype=np.float64)
                x = (pts[:, 0] - self.lon0) * self.kx
                y = (pts[:, 1] - self.lat0) * _M_PER_DEG
                a = np.column_stack([x[:-1], y[:-1]])
                b = np.column_stack([x[1:], y[1:]])
                swap = a[:, 1] > b[:, 1]
                lo, hi = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
                rows.append(np.column_stack([lo, hi]))
        return np.concatenate(rows)

    def _scan(self, edges: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        yc = (np.arange(r0, r1) + 0.5)[:, None] * self.step
        xl, yl, xh, yh = (edges[:, i][None, :] for i in range(4))
        crosses = (yl <= yc) & (yc < yh)
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(crosses, xl + (yc - yl) * (xh - xl) / (yh - yl), np.inf)
        x.sort(axis=1)
        rows, width = r1 - r0, c1 - c0
        diff = np.zeros((rows, width + 1), dtype=np.int32)
        for k in range(0, x.shape[1] - 1, 2):
            xa, xb = x[:, k], x[:, k + 1]
            ok = np.isfinite(xb)
            if not ok.any():
                break
            # centre c is inside when xa <= c < xb (half-open: a shared edge counts once)
            first = np.clip(np.ceil(xa[ok] / self.step - 0.5).astype(np.int64) - c0, 0, width)
            after = np.clip(np.ceil(xb[ok] / self.step - 0.5).astype(np.int64) - c0, 0, width)
            idx = np.flatnonzero(ok)
            np.add.at(diff, (idx, first), 1)
            np.add.at(diff, (idx, after), -1)
        return np.cumsum(diff[:, :width], axis=1) > 0
