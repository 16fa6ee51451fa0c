"""Unit-grid point-in-polygon lookup against the brute-force reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import GridSpec, UnitGridIndex
from kernels.reference import ref_unit_grid_lookup

SPEC = GridSpec(35.7331, 114.2972, 100.0)
DLAT, DLON = 100.0 / SPEC.ky, 100.0 / SPEC.kx  # about 100 m


def _rect(x0: float, y0: float, w: float, h: float) -> list[list[float]]:
    """Closed ring of a rectangle given in ~100 m units east/north of the origin."""
    lo, la = SPEC.origin_lon + x0 * DLON, SPEC.origin_lat + y0 * DLAT
    d, e = w * DLON, h * DLAT
    return [[lo, la], [lo + d, la], [lo + d, la + e], [lo, la + e], [lo, la]]


def _collection() -> dict[str, Any]:
    feats = []
    for i in range(4):
        for j in range(3):
            feats.append(
                {
                    "type": "Feature",
                    "properties": {"grid_code": f"41061100{i}00{j}001"},
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [_rect(1.3 * i, 1.3 * j, 1.3, 1.3)],
                    },
                }
            )
    # A ring with a hole, and a two-part MultiPolygon, east of the squares.
    outer, hole = _rect(8, 0, 3, 3), _rect(9, 1, 1, 1)
    feats.append(
        {
            "type": "Feature",
            "properties": {"grid_code": 410611009009001},
            "geometry": {"type": "Polygon", "coordinates": [outer, hole[::-1]]},
        }
    )
    feats.append(
        {
            "type": "Feature",
            "properties": {"grid_code": "41061100800801"},
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [[_rect(-4, 0, 1.3, 1.3)], [_rect(-4, 4, 1.3, 1.3)]],
            },
        }
    )
    return {"type": "FeatureCollection", "features": feats}


@pytest.fixture(scope="module")
def index() -> UnitGridIndex:
    return UnitGridIndex.from_geojson(_collection(), SPEC)


@settings(max_examples=40, deadline=None, database=None)
@given(st.lists(st.tuples(st.floats(-5, 12), st.floats(-2, 6)), min_size=1, max_size=50))
def test_lookup_matches_reference(index: UnitGridIndex, pts: list[tuple[float, float]]) -> None:
    lon = np.array([SPEC.origin_lon + a * DLON for a, _ in pts])
    lat = np.array([SPEC.origin_lat + b * DLAT for _, b in pts])
    got = index.lookup(lat, lon).tolist()
    assert got == ref_unit_grid_lookup(index.polygons(), lat, lon, SPEC)


def test_known_points(index: UnitGridIndex, tmp_path: Path) -> None:
    lon = SPEC.origin_lon + np.array([0.5, 1.8, 8.5, 9.3, -3.5, -3.5, 50.0]) * DLON
    lat = SPEC.origin_lat + np.array([0.5, 2.9, 1.0, 1.4, 0.5, 4.5, 0.0]) * DLAT
    expected = [
        410611000000001,
        410611001002001,
        410611009009001,
        0,  # 0: in the hole
        41061100800801,
        41061100800801,
        0,
    ]
    assert index.lookup(lat, lon).tolist() == expected
    path = tmp_path / "grid.geojson"
    path.write_text(json.dumps(_collection()), encoding="utf-8")
    assert UnitGridIndex.from_geojson(path, SPEC).lookup(lat, lon).tolist() == expected


@pytest.mark.parametrize(
    ("mutate", "msg"),
    [
        (lambda fc: fc.update(type="Feature"), "FeatureCollection"),
        (lambda fc: fc["features"][0]["properties"].update(grid_code="12ab"), "grid_code"),
        (lambda fc: fc["features"][0]["properties"].pop("grid_code"), "grid_code"),
        (lambda fc: fc["features"][0]["geometry"].update(type="Point"), "Polygon"),
        (lambda fc: fc["features"][0]["geometry"].update(coordinates=[[[114.0, 35.0]]]), "ring"),
        (lambda fc: fc.update(features=[]), "no polygons"),
    ],
)
def test_bad_geojson_is_rejected(mutate: Any, msg: str) -> None:
    fc = _collection()
    mutate(fc)
    with pytest.raises(ValueError, match=msg):
        UnitGridIndex.from_geojson(fc, SPEC)
