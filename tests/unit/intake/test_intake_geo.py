"""Coordinate conversions against published reference points, and the district."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.reference import geo
from streams.reference.geo import District, DistrictError, normalize_address

# Published outputs of wandergis/coordtransform (test/app.js) for input lon 116.404, lat 39.915.
_LAT, _LON = 39.915, 116.404


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat2 - lat1) * 111_320.0
    dx = (lon2 - lon1) * 111_320.0 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


def test_published_forward_pairs() -> None:
    lat, lon = geo.wgs84_to_gcj02(_LAT, _LON)
    assert (float(lon), float(lat)) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-9
    )
    lat, lon = geo.gcj02_to_bd09(_LAT, _LON)
    assert (float(lon), float(lat)) == pytest.approx(
        (116.41036949371029, 39.92133699351021), abs=1e-9
    )
    lat, lon = geo.bd09_to_gcj02(_LAT, _LON)
    assert (float(lon), float(lat)) == pytest.approx(
        (116.39762729119315, 39.90865673957631), abs=1e-9
    )


def test_iterative_inverse_beats_the_published_one_step_inverse() -> None:
    one_step_lon, one_step_lat = 116.39775550083061, 39.91359571849836  # published gcj02towgs84
    lat, lon = geo.gcj02_to_wgs84(_LAT, _LON)
    back_lat, back_lon = geo.wgs84_to_gcj02(lat, lon)
    assert _metres(float(back_lat), float(back_lon), _LAT, _LON) < 0.01
    f_lat, f_lon = geo.wgs84_to_gcj02(one_step_lat, one_step_lon)
    assert _metres(float(f_lat), float(f_lon), _LAT, _LON) > 0.01  # the approximation's error
    assert _metres(float(lat), float(lon), one_step_lat, one_step_lon) < 2.0


@settings(max_examples=80, deadline=None)
@given(st.floats(18.0, 53.0), st.floats(74.0, 134.0))
def test_round_trips_are_below_half_a_metre(lat: float, lon: float) -> None:
    g_lat, g_lon = geo.wgs84_to_gcj02(lat, lon)
    w_lat, w_lon = geo.gcj02_to_wgs84(g_lat, g_lon)
    assert _metres(float(w_lat), float(w_lon), lat, lon) < 0.5
    b_lat, b_lon = geo.gcj02_to_bd09(g_lat, g_lon)
    w2_lat, w2_lon = geo.bd09_to_wgs84(b_lat, b_lon)
    assert _metres(float(w2_lat), float(w2_lon), lat, lon) < 0.5


def test_vectorised_matches_scalar() -> None:
    rng = np.random.default_rng(3)
    lat = rng.uniform(35.64, 35.83, 50)
    lon = rng.uniform(114.15, 114.44, 50)
    v_lat, v_lon = geo.bd09_to_wgs84(lat, lon)
    for i in (0, 17, 49):
        s_lat, s_lon = geo.to_wgs84_point(float(lat[i]), float(lon[i]), "bd09")
        assert (s_lat, s_lon) == pytest.approx((v_lat[i], v_lon[i]), abs=1e-12)
    assert geo.to_wgs84_point(1.5, 2.5, "wgs84") == (1.5, 2.5)
    with pytest.raises(ValueError, match="unknown crs"):
        geo.to_wgs84_point(1.0, 2.0, "utm")


def test_gcj_offset_is_hundreds_of_metres_in_hebi_and_none_abroad() -> None:
    lat, lon = geo.wgs84_to_gcj02(35.733, 114.295)
    assert 100 < _metres(float(lat), float(lon), 35.733, 114.295) < 1000
    lat, lon = geo.wgs84_to_gcj02(40.7128, -74.006)
    assert (float(lat), float(lon)) == (40.7128, -74.006)


def test_district_bounds_and_zone() -> None:
    d = District.load("qibin")
    assert d.admin_code == "410611"
    assert str(d.timezone) == "Asia/Shanghai"
    inside = d.contains(np.array([35.7331, 35.9]), np.array([114.2972, 114.2972]))
    assert inside.tolist() == [True, False]


def test_address_lookup_normalises_width_and_spaces(district_with_gazetteer: District) -> None:
    d = district_with_gazetteer
    assert d.lookup_address("淇河路１２号") == (35.7402, 114.2911)  # full-width digits
    assert d.lookup_address("  华夏南路   3  号 ") == (35.7120, 114.3050)
    assert d.lookup_address("不存在路1号") is None
    assert normalize_address("ＡＢ  c") == "ab c"


def test_missing_gazetteer_is_reported_not_hidden(tmp_path: Path) -> None:
    spec = {
        "name": "x",
        "admin_code": "410611",
        "timezone": "Asia/Shanghai",
        "origin": {"lat": 1.5, "lon": 3.5},
        "bounds": {"lat_min": 1, "lat_max": 2, "lon_min": 3, "lon_max": 4},
        "gazetteer": "none.csv",
    }
    (tmp_path / "x.json").write_bytes(orjson.dumps(spec))
    d = District.load(tmp_path / "x.json")
    assert d.lookup_address("a") is None
    assert "no gazetteer loaded" in d.gazetteer_note()


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "x"},
        {"name": "x", "admin_code": "1", "timezone": "Mars/Olympus", "bounds": {}},
        {
            "name": "x",
            "admin_code": "1",
            "timezone": "UTC",
            "bounds": {"lat_min": 2, "lat_max": 1, "lon_min": 3, "lon_max": 4},
        },
    ],
)
def test_bad_district_files_are_rejected(tmp_path: Path, spec: dict) -> None:
    (tmp_path / "x.json").write_bytes(orjson.dumps(spec))
    with pytest.raises(DistrictError):
        District.load(tmp_path / "x.json")
    with pytest.raises(DistrictError, match="does not exist"):
        District.load("atlantis")
