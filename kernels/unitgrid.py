"""Unit-grid (万米单元网格) codes by point-in-polygon, indexed by the metric cell grid.

``UnitGridIndex.from_geojson`` parses a FeatureCollection of Polygon / MultiPolygon
features with a 14- or 15-digit ``grid_code`` property, projects every vertex with the
GridSpec, and builds a dense CSR index over the polygons' bounding box: cell -> candidate
polygons (those whose bounding box touches the cell, in file order). ``lookup`` tests only
those candidates with the even-odd rule (holes work); the first polygon containing the
point wins, 0 means outside every polygon.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kernels._jit import ngjit
from kernels.grid import GridSpec, coerce_latlon, project

__all__ = ["UnitGridIndex"]

Ring = list[tuple[float, float]]


@ngjit
def _inside(x, y, p, poly_ring, ring_vert, vx, vy):
    inside = False
    for r in range(poly_ring[p], poly_ring[p + 1]):
        a = ring_vert[r]
        b = ring_vert[r + 1]
        for i in range(a, b):
            j = i + 1 if i + 1 < b else a
            x1 = vx[i]
            y1 = vy[i]
            x2 = vx[j]
            y2 = vy[j]
            if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
                inside = not inside
    return inside


@ngjit
def _lookup_kernel(
    lat,
    lon,
    lat0,
    lon0,
    kx,
    ky,
    inv,
    ix0,
    iy0,
    nx,
    ny,
    cell_start,
    cell_poly,
    poly_ring,
    ring_vert,
    vx,
    vy,
    codes,
    out,
):
    for i in range(lat.shape[0]):
        x = (lon[i] - lon0) * kx
        y = (lat[i] - lat0) * ky
        ix = np.int64(np.floor(x * inv)) - ix0
        iy = np.int64(np.floor(y * inv)) - iy0
        out[i] = 0
        if 0 <= ix < nx and 0 <= iy < ny:
            row = ix * ny + iy
            for j in range(cell_start[row], cell_start[row + 1]):
                p = cell_poly[j]
                if _inside(x, y, p, poly_ring, ring_vert, vx, vy):
                    out[i] = codes[p]
                    break


def _grid_code(props: Any, where: str) -> int:
    raw = props.get("grid_code") if isinstance(props, dict) else None
    s = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
    if not (s.isdigit() and len(s) in (14, 15) and int(s) > 0):
        raise ValueError(f"{where}: grid_code must be 14 or 15 digits, got {raw!r}")
    return int(s)


def _rings(coords: Any, where: str) -> list[list[tuple[float, float]]]:
    """GeoJSON polygon coordinates -> rings of (lon, lat), closing vertex dropped."""
    if not isinstance(coords, list) or not coords:
        raise ValueError(f"{where}: polygon needs at least one ring")
    rings = []
    for ring in coords:
        try:
            pts = [(float(p[0]), float(p[1])) for p in ring]
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"{where}: malformed ring position ({exc})") from exc
        if len(pts) > 1 and pts[0] == pts[-1]:
            pts.pop()
        if len(pts) < 3 or not all(math.isfinite(a) and math.isfinite(b) for a, b in pts):
            raise ValueError(f"{where}: a ring needs >= 3 finite distinct positions")
        rings.append(pts)
    return rings


def _parse(obj: Any) -> list[tuple[int, list[list[tuple[float, float]]]]]:
    if not isinstance(obj, dict) or obj.get("type") != "FeatureCollection":
        raise ValueError("unit grid must be a GeoJSON FeatureCollection")
    out = []
    for n, feat in enumerate(obj.get("features") or []):
        where = f"feature {n}"
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        if not isinstance(geom, dict):
            raise ValueError(f"{where}: no geometry")
        code = _grid_code(feat.get("properties"), where)
        if geom.get("type") == "Polygon":
            out.append((code, _rings(geom.get("coordinates"), where)))
        elif geom.get("type") == "MultiPolygon":
            out.extend((code, _rings(part, where)) for part in geom.get("coordinates") or [])
        else:
            raise ValueError(f"{where}: geometry must be Polygon or MultiPolygon")
    if not out:
        raise ValueError("unit grid has no polygons")
    return out


@dataclass(frozen=True, eq=False)
class UnitGridIndex:
    spec: GridSpec
    codes: npt.NDArray[np.int64]  # per polygon (a MultiPolygon gives several)
    poly_ring: npt.NDArray[np.int64]  # polygon p has rings poly_ring[p]:poly_ring[p+1]
    ring_vert: npt.NDArray[np.int64]  # ring r has vertices ring_vert[r]:ring_vert[r+1]
    vx: npt.NDArray[np.float64]
    vy: npt.NDArray[np.float64]
    origin: tuple[int, int, int, int]  # ix0, iy0, nx, ny of the dense cell box
    cell_start: npt.NDArray[np.int64]
    cell_poly: npt.NDArray[np.int32]

    @classmethod
    def from_geojson(cls, obj_or_path: Any, spec: GridSpec) -> UnitGridIndex:
        """Build from a parsed FeatureCollection, or a path to a GeoJSON file."""
        if isinstance(obj_or_path, str | Path):
            obj_or_path = json.loads(Path(obj_or_path).read_text(encoding="utf-8"))
        return cls.from_polygons(_parse(obj_or_path), spec)

    @classmethod
    def from_polygons(
        cls, polys: list[tuple[int, list[list[tuple[float, float]]]]], spec: GridSpec
    ) -> UnitGridIndex:
        """Build from ``(code, rings of (lon, lat))`` polygons, the closing vertex dropped
        (e.g. a district boundary, code 1: ``lookup`` is then a containment test)."""
        if not polys:
            raise ValueError("no polygons")
        lens = [len(r) for _, rings in polys for r in rings]
        ring_vert = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        poly_ring = np.concatenate([[0], np.cumsum([len(r) for _, r in polys])]).astype(np.int64)
        lon = [p[0] for _, rings in polys for r in rings for p in r]
        lat = [p[1] for _, rings in polys for r in rings for p in r]
        vx, vy = project(lat, lon, spec)
        inv = spec.inv_cell
        starts, ends = poly_ring[:-1], poly_ring[1:]
        vs, ve = ring_vert[starts], ring_vert[ends]
        bx0 = np.array([np.floor(vx[a:b].min() * inv) for a, b in zip(vs, ve, strict=True)])
        bx1 = np.array([np.floor(vx[a:b].max() * inv) for a, b in zip(vs, ve, strict=True)])
        by0 = np.array([np.floor(vy[a:b].min() * inv) for a, b in zip(vs, ve, strict=True)])
        by1 = np.array([np.floor(vy[a:b].max() * inv) for a, b in zip(vs, ve, strict=True)])
        ix0, iy0 = int(bx0.min()), int(by0.min())
        nx, ny = int(bx1.max()) - ix0 + 1, int(by1.max()) - iy0 + 1
        if nx * ny > 50_000_000:
            raise ValueError(f"unit grid spans {nx} x {ny} cells; use a larger cell size")
        rows, polys_of = [], []
        for p in range(len(polys)):
            gx, gy = np.meshgrid(
                np.arange(bx0[p], bx1[p] + 1) - ix0, np.arange(by0[p], by1[p] + 1) - iy0
            )
            rows.append((gx * ny + gy).ravel().astype(np.int64))
            polys_of.append(np.full(gx.size, p, dtype=np.int32))
        row, pid = np.concatenate(rows), np.concatenate(polys_of)
        order = np.argsort(row, kind="stable")  # keeps file order within a cell
        cell_start = np.zeros(nx * ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=nx * ny), out=cell_start[1:])
        return cls(
            spec=spec,
            codes=np.array([c for c, _ in polys], dtype=np.int64),
            poly_ring=poly_ring,
            ring_vert=ring_vert,
            vx=vx,
            vy=vy,
            origin=(ix0, iy0, nx, ny),
            cell_start=cell_start,
            cell_poly=pid[order],
        )

    def lookup(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Grid code of every position (0 outside every polygon)."""
        la, lo = coerce_latlon(lat, lon)
        out = np.empty(la.shape[0], dtype=np.int64)
        s = self.spec
        ix0, iy0, nx, ny = self.origin
        _lookup_kernel(
            la,
            lo,
            s.origin_lat,
            s.origin_lon,
            s.kx,
            s.ky,
            s.inv_cell,
            ix0,
            iy0,
            nx,
            ny,
            self.cell_start,
            self.cell_poly,
            self.poly_ring,
            self.ring_vert,
            self.vx,
            self.vy,
            self.codes,
            out,
        )
        return out

    def polygons(self) -> list[tuple[int, list[Ring]]]:
        """(code, rings of projected (x, y)) per polygon, for the reference lookup."""
        out = []
        for p in range(self.codes.shape[0]):
            rings = []
            for r in range(self.poly_ring[p], self.poly_ring[p + 1]):
                a, b = self.ring_vert[r], self.ring_vert[r + 1]
                rings.append(list(zip(self.vx[a:b].tolist(), self.vy[a:b].tolist(), strict=True)))
            out.append((int(self.codes[p]), rings))
        return out
