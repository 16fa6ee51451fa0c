"""Simulator coordinates: a local metric plane and the forward WGS84 -> GCJ-02 -> BD-09 maps.

The district is drawn in metres around its origin (x east, y north) and converted to WGS84
with a local equirectangular projection, which is exact enough over a few kilometres. Patrol
terminals declare GCJ-02 or BD-09, so the simulator needs the *forward* transforms to fake
what a phone SDK would report; the pipeline owns the inverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CRS_NAMES",
    "Plane",
    "gcj02_to_bd09",
    "to_declared_crs",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

EARTH_RADIUS_M = 6_371_008.8
CRS_NAMES = ("wgs84", "gcj02", "bd09")

# Constants of the published GCJ-02 algorithm (Krasovsky 1940 ellipsoid).
_GCJ_A = 6_378_245.0
_GCJ_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0


@dataclass(frozen=True)
class Plane:
    """A local tangent plane in metres around ``(lat0, lon0)``."""

    lat0: float
    lon0: float

    def to_wgs84(self, x: float, y: float) -> tuple[float, float]:
        """Metres east/north of the origin -> (lat, lon) in degrees."""
        lat = self.lat0 + math.degrees(y / EARTH_RADIUS_M)
        lon = self.lon0 + math.degrees(x / (EARTH_RADIUS_M * math.cos(math.radians(self.lat0))))
        return lat, lon

    def to_wgs84_arrays(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`to_wgs84` of whole columns."""
        lat = self.lat0 + np.degrees(y / EARTH_RADIUS_M)
        lon = self.lon0 + np.degrees(x / (EARTH_RADIUS_M * math.cos(math.radians(self.lat0))))
        return lat, lon

    def from_wgs84(self, lat: float, lon: float) -> tuple[float, float]:
        """(lat, lon) in degrees -> metres (x east, y north) of the origin."""
        y = math.radians(lat - self.lat0) * EARTH_RADIUS_M
        x = math.radians(lon - self.lon0) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))
        return x, y


def _gcj_dlat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _gcj_dlon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """WGS84 -> GCJ-02 (the obfuscated system of Chinese map SDKs such as AMap, Tencent)."""
    dlat = _gcj_dlat(lon - 105.0, lat - 35.0)
    dlon = _gcj_dlon(lon - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1.0 - _GCJ_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lat + dlat, lon + dlon


def gcj02_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """GCJ-02 -> BD-09 (Baidu's system, a further rotation/offset of GCJ-02)."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _BD_X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def wgs84_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """WGS84 -> BD-09, through GCJ-02 as Baidu's SDK does."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))


def to_declared_crs(crs: str, lat: float, lon: float) -> tuple[float, float]:
    """What a terminal declaring ``crs`` reports for the true WGS84 position."""
    if crs == "wgs84":
        return lat, lon
    if crs == "gcj02":
        return wgs84_to_gcj02(lat, lon)
    if crs == "bd09":
        return wgs84_to_bd09(lat, lon)
    raise ValueError(f"unknown crs {crs!r}; expected one of {', '.join(CRS_NAMES)}")
