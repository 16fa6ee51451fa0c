from __future__ import annotations

import math

import pytest

from streams.simulator.geo import (
    Plane,
    gcj02_to_bd09,
    to_declared_crs,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# Reference outputs published with the coordtransform libraries (Tiananmen area) and the
# Beijing railway station pair of the R package "coordinate systems transformations".
WGS_IN = (39.915, 116.404)
GCJ_OUT = (39.91640428150164, 116.41024449916938)
BD_FROM_GCJ_IN = (39.92133699351021, 116.41036949371029)


def test_wgs84_to_gcj02_matches_published_reference() -> None:
    lat, lon = wgs84_to_gcj02(*WGS_IN)
    assert lat == pytest.approx(GCJ_OUT[0], abs=1e-9)
    assert lon == pytest.approx(GCJ_OUT[1], abs=1e-9)


def test_gcj02_to_bd09_matches_published_references() -> None:
    lat, lon = gcj02_to_bd09(*WGS_IN)  # the reference feeds the same numbers as GCJ-02
    assert (lat, lon) == pytest.approx(BD_FROM_GCJ_IN, abs=1e-9)
    lat, lon = gcj02_to_bd09(39.90245, 116.42703)
    assert (lat, lon) == pytest.approx((39.90851, 116.43351), abs=1e-5)


def test_bd09_is_gcj02_then_bd09_and_offsets_are_hundreds_of_metres() -> None:
    lat, lon = 35.7330, 114.2950
    assert wgs84_to_bd09(lat, lon) == gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))
    for crs in ("gcj02", "bd09"):
        y, x = to_declared_crs(crs, lat, lon)
        metres = math.hypot((y - lat) * 111_000, (x - lon) * 111_000 * math.cos(math.radians(lat)))
        assert 100 < metres < 1500, (crs, metres)
    assert to_declared_crs("wgs84", lat, lon) == (lat, lon)
    with pytest.raises(ValueError, match="unknown crs"):
        to_declared_crs("utm50n", lat, lon)


def test_plane_round_trip_and_scale() -> None:
    plane = Plane(35.733, 114.295)
    lat, lon = plane.to_wgs84(1000.0, -2000.0)
    assert plane.from_wgs84(lat, lon) == pytest.approx((1000.0, -2000.0), abs=1e-6)
    assert (lat - 35.733) * 111_195 == pytest.approx(-2000.0, rel=1e-3)
