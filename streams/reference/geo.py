"""Coordinates (GCJ-02 / BD-09 to WGS84) and the district: bounds, time zone, gazetteer.

The GCJ-02 forward transform is the published public formula (as in the coordTransform
libraries); its inverse here is iterative (fixed point), accurate far below 0.5 m inside
China, instead of the one-step approximation (1 to 2 m off) those libraries ship.
All functions take numpy arrays (vectorised); the ``*_point`` helpers take scalars.
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import orjson

from kernels import GridSpec, UnitGridIndex
from streams.reference.data import DISTRICTS_DIR
from streams.reference.polygons import PolygonError, read_shapes, rings_for_index

__all__ = [
    "CRS",
    "District",
    "DistrictError",
    "Placeholder",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "normalize_address",
    "to_wgs84_point",
    "wgs84_to_gcj02",
]

CRS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")  # index = crs code used by the adapters

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
_INVERSE_TOL_DEG = 1e-10  # ~1 cm; iterations stop once every point moved less
_INVERSE_MAX_ITER = 20
_SPACE_NEAR_CJK = re.compile(r" ?([^\x00-\x7f]) ?")


_M_PER_DEG = 111_320.0  # metres per degree of latitude (and of longitude at the equator)
PLACEHOLDER_TOLERANCE_M = 2.0  # a placeholder is written as the same digits, give or take


class DistrictError(ValueError):
    """A district file or its gazetteer is invalid."""


@dataclass(frozen=True)
class Placeholder:
    """A position a source writes when it does not know one (e.g. a geocoder's city centre):
    a report there says nothing about where the problem is (docs/onboarding.md)."""

    lat: float
    lon: float
    tolerance_m: float
    note: str


def _out_of_china(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlat, dlon) in degrees at a WGS84 position."""
    x, y = lon - 105.0, lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(radlat) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    dlat, dlon = _delta(lat, lon)
    outside = _out_of_china(lat, lon)
    return np.where(outside, lat, lat + dlat), np.where(outside, lon, lon + dlon)


def gcj02_to_wgs84(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`wgs84_to_gcj02` by fixed-point iteration (converges in ~3 steps)."""
    g_lat, g_lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    w_lat, w_lon = g_lat.copy(), g_lon.copy()
    for _ in range(_INVERSE_MAX_ITER):
        f_lat, f_lon = wgs84_to_gcj02(w_lat, w_lon)
        e_lat, e_lon = f_lat - g_lat, f_lon - g_lon
        w_lat, w_lon = w_lat - e_lat, w_lon - e_lon
        err = np.maximum(np.abs(e_lat), np.abs(e_lon))
        # NaN errors (NaN input) must not keep the loop going.
        if not np.any(err > _INVERSE_TOL_DEG):
            break
    return w_lat, w_lon


def gcj02_to_bd09(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.sin(theta) + 0.006, z * np.cos(theta) + 0.0065


def bd09_to_gcj02(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.sin(theta), z * np.cos(theta)


def bd09_to_wgs84(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))


def to_wgs84_point(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """One position in ``crs`` (wgs84 | gcj02 | bd09) as WGS84 (lat, lon)."""
    if crs not in CRS:
        raise ValueError(f"unknown crs {crs!r}, expected one of {CRS}")
    if crs == "wgs84":
        return float(lat), float(lon)
    conv = gcj02_to_wgs84 if crs == "gcj02" else bd09_to_wgs84
    out_lat, out_lon = conv(np.array([lat]), np.array([lon]))
    return float(out_lat[0]), float(out_lon[0])


def normalize_address(text: str) -> str:
    """Gazetteer key: NFKC (full-width digits/letters to ASCII), case-folded, single spaces,
    and no spaces next to CJK characters (``华夏南路 3 号`` == ``华夏南路3号``)."""
    collapsed = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return _SPACE_NEAR_CJK.sub(r"\1", collapsed)


@dataclass(frozen=True)
class District:
    """A district's bounds, time zone and (optional) address gazetteer."""

    name: str
    admin_code: str
    timezone: ZoneInfo
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    origin: tuple[float, float]  # (lat, lon) of the metric grid's origin
    gazetteer_path: Path | None
    unit_grids_path: Path | None  # GeoJSON of the 15-digit unit grids, if the district has one
    streets_path: Path | None  # GeoJSON of the street segments (streams.reference.streets)
    gazetteer: dict[str, tuple[float, float]] = field(repr=False)
    # positions a source writes when it has none (a geocoder's city-centre default)
    placeholders: tuple[Placeholder, ...] = ()
    # GeoJSON of the district's boundary polygon(s): containment is tested against it,
    # not only against the bounding box (docs/onboarding.md)
    boundary_path: Path | None = None
    boundary: UnitGridIndex | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, name_or_path: str | Path) -> District:
        """``qibin`` reads streams/data/districts/qibin.json; a path reads that file, a folder
        its ``district.json`` (what ``citystream district init`` writes)."""
        path = _district_file(name_or_path)
        try:
            raw = orjson.loads(path.read_bytes())
            bounds = raw["bounds"]
            zone = ZoneInfo(raw["timezone"])
            box = [float(bounds[k]) for k in ("lat_min", "lat_max", "lon_min", "lon_max")]
            admin_code = str(raw["admin_code"])
            name = str(raw["name"])
            origin = (float(raw["origin"]["lat"]), float(raw["origin"]["lon"]))
            placeholders = tuple(
                Placeholder(
                    float(p["lat"]),
                    float(p["lon"]),
                    float(p.get("tolerance_m", PLACEHOLDER_TOLERANCE_M)),
                    str(p.get("note", "")),
                )
                for p in raw.get("placeholder_positions", ())
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DistrictError(f"{path}: invalid district file: {exc!r}") from exc
        except ZoneInfoNotFoundError as exc:
            raise DistrictError(f"{path}: unknown time zone: {exc}") from exc
        if not (box[0] < box[1] and box[2] < box[3]):
            raise DistrictError(f"{path}: bounds are empty: {bounds}")
        # a missing gazetteer is not an error: the district runs without addresses, and
        # gazetteer_note() says so (a named grid or street file is required)
        gaz_path = path.parent / raw["gazetteer"] if raw.get("gazetteer") else None
        gazetteer = _read_gazetteer(gaz_path) if gaz_path and gaz_path.is_file() else {}
        lat_min, lat_max, lon_min, lon_max = box
        grids_path = _beside(path, raw.get("unit_grids"), "unit grid")
        streets_path = _beside(path, raw.get("streets"), "street network")
        boundary_path = path.parent / raw["boundary"] if raw.get("boundary") else None
        return cls(
            name,
            admin_code,
            zone,
            lat_min,
            lat_max,
            lon_min,
            lon_max,
            origin,
            gaz_path,
            grids_path,
            streets_path,
            gazetteer,
            placeholders,
            boundary_path,
            _boundary_index(path, boundary_path, origin) if boundary_path else None,
        )

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Boolean mask: inside the district's bounding box and, when it declares one, its
        boundary polygon (NaN positions are outside)."""
        inside = (
            (lat >= self.lat_min)
            & (lat <= self.lat_max)
            & (lon >= self.lon_min)
            & (lon <= self.lon_max)
        )
        if self.boundary is not None and inside.any():
            which = np.flatnonzero(inside)
            inside[which] = self.boundary.lookup(lat[which], lon[which]) != 0
        return inside

    def placeholder_at(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Per position: the index of the declared placeholder it sits on, or -1."""
        found = np.full(len(lat), -1, dtype=np.int64)
        for i, p in enumerate(self.placeholders):
            dy = (lat - p.lat) * _M_PER_DEG
            dx = (lon - p.lon) * _M_PER_DEG * math.cos(math.radians(p.lat))
            with np.errstate(invalid="ignore"):
                found[(found < 0) & (dx * dx + dy * dy <= p.tolerance_m**2)] = i
        return found

    def lookup_address(self, address: str) -> tuple[float, float] | None:
        """WGS84 (lat, lon) of a gazetteer address, or None if unknown."""
        return self.gazetteer.get(normalize_address(address))

    def gazetteer_note(self) -> str:
        """Why an address lookup may fail, for dead-letter messages."""
        if self.gazetteer:
            return f"not in the gazetteer ({len(self.gazetteer)} addresses)"
        return f"no gazetteer loaded (file {self.gazetteer_path} missing)"


def _boundary_index(path: Path, boundary_path: Path, origin: tuple[float, float]) -> UnitGridIndex:
    errors: list[str] = []
    try:
        shapes = read_shapes(boundary_path, None, errors)
    except PolygonError as exc:
        errors.append(str(exc))
    if errors:
        raise DistrictError(f"{path}: boundary {boundary_path.name}: {'; '.join(errors)}")
    # one polygon for the whole district: the cell size only bounds the index's box
    return UnitGridIndex.from_polygons(rings_for_index(shapes, 1), GridSpec(*origin, 1000.0))


def _read_gazetteer(path: Path) -> dict[str, tuple[float, float]]:
    entries: dict[str, tuple[float, float]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not {"address", "lat", "lon"} <= set(reader.fieldnames or ()):
            raise DistrictError(f"{path}: columns must include address,lat,lon")
        for line, row in enumerate(reader, 2):
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
            except (TypeError, ValueError):
                raise DistrictError(f"{path}:{line}: lat/lon not numbers: {row}") from None
            if not (math.isfinite(lat) and math.isfinite(lon)):
                raise DistrictError(f"{path}:{line}: lat/lon not finite")
            entries[normalize_address(row["address"])] = (lat, lon)
    return entries


def _district_file(name_or_path: str | Path) -> Path:
    """A packaged district's name, a district file, or a folder holding ``district.json``."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "district.json"
    elif path.suffix != ".json":
        path = DISTRICTS_DIR / f"{path}.json"
    if not path.is_file():
        raise DistrictError(f"district file {path} does not exist")
    return path


def _beside(district_file: Path, name: object, what: str) -> Path | None:
    """The file the district file names (beside it), or None when it names none; a named
    file that is missing is an error."""
    if not name:
        return None
    path = district_file.parent / str(name)
    if not path.is_file():
        raise DistrictError(f"{district_file}: {what} file {path} does not exist")
    return path
