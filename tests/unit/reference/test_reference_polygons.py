"""District boundaries: containment against the polygon (holes and several parts included),
and areas measured on the lattice."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pytest

from streams.reference.geo import District, DistrictError
from streams.reference.polygons import Lattice, PolygonError, read_shapes


def _square(lon: float, lat: float, size: float) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


@pytest.fixture
def district(tmp_path: Path) -> Path:
    """Two 0.01° squares side by side; the west one has a 0.002° hole in its middle."""
    west = [_square(114.0, 35.0, 0.01), _square(114.004, 35.004, 0.002)[::-1]]
    east = [_square(114.02, 35.0, 0.01)]
    boundary = {"type": "MultiPolygon", "coordinates": [west, east]}
    (tmp_path / "boundary.geojson").write_bytes(orjson.dumps(boundary))
    box = {"lat_min": 35.0, "lat_max": 35.01, "lon_min": 114.0, "lon_max": 114.03}
    spec = {"name": "d", "admin_code": "000000", "timezone": "UTC", "boundary": "boundary.geojson",
            "origin": {"lat": 35.005, "lon": 114.015}, "bounds": box}  # fmt: skip
    (tmp_path / "district.json").write_bytes(orjson.dumps(spec))
    return tmp_path


def test_containment_is_against_the_polygon(district: Path) -> None:
    d = District.load(district)
    lat = np.array([35.002, 35.005, 35.005, 35.005, 35.005, np.nan])
    lon = np.array([114.002, 114.005, 114.015, 114.025, 114.035, 114.002])
    # west part; its hole; between the parts (in the box); east part; outside the box; NaN
    assert d.contains(lat, lon).tolist() == [True, False, False, True, False, False]


def test_a_broken_boundary_is_named(district: Path) -> None:
    (district / "boundary.geojson").write_bytes(orjson.dumps({"type": "Polygon", "coordinates": [
        [[114.0, 35.0], [114.01, 35.0], [114.01, 35.01]]]}))  # fmt: skip
    with pytest.raises(DistrictError, match=r"boundary boundary.geojson: .*feature 0: polygon 0 "
                       r"ring 0: ring is not closed"):  # fmt: skip
        District.load(district)
    (district / "boundary.geojson").write_text("{not json")
    with pytest.raises(DistrictError, match=r"boundary\.geojson: not JSON"):
        District.load(district)


def test_lattice_areas(district: Path) -> None:
    errors: list[str] = []
    shapes = read_shapes(district / "boundary.geojson", None, errors)
    assert errors == []
    lattice = Lattice.over(shapes, 1_000_000, 2.0)
    _rows, _cols, mask = lattice.mask(shapes[0])
    k = 111_320.0
    square = (0.01 * k * math.cos(math.radians(35.005))) * (0.01 * k)
    hole = square * 0.04
    measured = mask.sum() * lattice.cell_m2
    assert abs(measured - (2 * square - hole)) < 0.01 * square


def test_not_geojson_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.geojson").write_bytes(orjson.dumps({"type": "Topology"}))
    with pytest.raises(PolygonError, match="not GeoJSON"):
        read_shapes(tmp_path / "x.geojson", None, [])
