"""The street network file: the committed qibin network loads; bad files say what is wrong."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from kernels import GridSpec
from streams.reference.data import DISTRICTS_DIR
from streams.reference.geo import District, DistrictError
from streams.reference.streets import StreetNetwork, StreetsError, walk_params
from streams.settings import Settings


@pytest.fixture(scope="module")
def qibin() -> StreetNetwork:
    return StreetNetwork.for_district(District.load("qibin"))


def test_the_district_config_names_the_committed_network(qibin: StreetNetwork) -> None:
    assert qibin.path == DISTRICTS_DIR / "qibin_streets.geojson"
    assert len(qibin) > 1000
    ids = [s.segment_id for s in qibin.segments]
    assert len(set(ids)) == len(ids)
    streets = qibin.streets()
    assert len(streets) == 28 and "410611-S001" in streets
    assert {"黎阳路", "泰山路"} <= set(streets.values())  # two of the seed article's streets
    assert all(0 < s.length_m <= 100.0 for s in qibin.segments)


def test_the_projected_lengths_agree_with_the_file(qibin: StreetNetwork) -> None:
    district = District.load("qibin")
    index = qibin.index(GridSpec(*district.origin), buffer_m=25.0)
    stated = np.array([s.length_m for s in qibin.segments])
    assert index.segment_id.tolist() == [s.segment_id for s in qibin.segments]
    # the simulator's spherical plane vs the grid's ellipsoidal one: a fraction of a percent
    assert np.abs(index.length_m / stated - 1).max() < 0.005


def test_the_walk_settings_make_kernel_params() -> None:
    params = walk_params(Settings().walk)
    assert (params.min_along_m, params.min_share) == (30.0, 0.5)
    assert (params.min_dwell_ms, params.max_gap_ms) == (180_000, 120_000)


def _doc() -> dict[str, Any]:
    def feature(sid: Any, lon0: float) -> dict[str, Any]:
        return {
            "type": "Feature",
            "properties": {
                "segment_id": sid,
                "street_id": "S1",
                "street_name": "淇河路",
                "length_m": 90.2,
            },
            "geometry": {
                "type": "LineString",
                "coordinates": [[lon0, 35.73], [lon0 + 0.001, 35.73]],
            },
        }

    return {"type": "FeatureCollection", "features": [feature(1, 114.29), feature(2, 114.291)]}


def test_a_small_network_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "streets.geojson"
    path.write_bytes(orjson.dumps(_doc()))
    net = StreetNetwork.load(path)
    assert [s.segment_id for s in net.segments] == [1, 2]
    assert net.segments[1].coords == ((114.291, 35.73), (114.291 + 0.001, 35.73))


def _set(path: str, value: Any) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        *keys, last = path.split(".")
        node: Any = doc
        for key in keys:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "msg"),
    [
        (_set("type", "Feature"), "FeatureCollection"),
        (_set("features", []), "no features"),
        (_set("features.1.geometry.type", "Point"), "feature 1 .*must be a LineString"),
        (_set("features.0.geometry", None), "must be a LineString"),
        (lambda d: d["features"][0]["properties"].pop("segment_id"), "missing segment_id"),
        (_set("features.1.properties.segment_id", 1), "duplicate segment_id 1"),
        (_set("features.0.properties.segment_id", "7"), "segment_id must be an integer"),
        (_set("features.0.properties.segment_id", True), "segment_id must be an integer"),
        (_set("features.0.properties.segment_id", -3), "segment_id must be an integer >= 0"),
        (_set("features.0.properties.length_m", 0.0902), "differs from the geometry"),
        (_set("features.0.properties.length_m", "90"), "length_m must be a number"),
        (_set("features.0.properties.length_m", -1), "length_m must be > 0"),
        (_set("features.0.properties.street_name", " "), "street_name must be a non-empty"),
        (_set("features.1.properties.street_name", "黎阳路"), "named both"),
        (_set("features.0.geometry.coordinates", [[114.29, 35.73]]), "at least 2 positions"),
        (_set("features.0.geometry.coordinates", [[1, 2], [1, 2]]), "zero length"),
        (_set("features.0.geometry.coordinates", [[35.73, 114.29], [35.73, 114.3]]), "WGS84"),
        (_set("features.0.geometry.coordinates", [[114.29], [114.3]]), "malformed"),
    ],
)
def test_bad_networks_are_rejected(mutate: Any, msg: str) -> None:
    doc = copy.deepcopy(_doc())
    mutate(doc)
    with pytest.raises(StreetsError, match=msg):
        StreetNetwork.from_geojson(doc)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(StreetsError, match="does not exist"):
        StreetNetwork.load(tmp_path / "none.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(StreetsError, match=r"bad\.geojson: not JSON"):
        StreetNetwork.load(bad)
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
    with pytest.raises(StreetsError, match=r"bad\.geojson: the street network has no features"):
        StreetNetwork.load(bad)


def test_a_district_names_its_network_or_none(tmp_path: Path) -> None:
    spec = orjson.loads((DISTRICTS_DIR / "qibin.json").read_bytes())
    del spec["gazetteer"], spec["unit_grids"]
    spec["streets"] = "missing.geojson"
    (tmp_path / "d.json").write_bytes(orjson.dumps(spec))
    with pytest.raises(DistrictError, match=r"street network file .*missing\.geojson"):
        District.load(tmp_path / "d.json")
    del spec["streets"]
    (tmp_path / "d.json").write_bytes(orjson.dumps(spec))
    district = District.load(tmp_path / "d.json")
    assert district.streets_path is None
    with pytest.raises(StreetsError, match="names no street network"):
        StreetNetwork.for_district(district)
