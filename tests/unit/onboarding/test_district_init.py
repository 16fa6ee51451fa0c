"""``citystream district init``: the fictional city of tests/fixtures/onboarding becomes a
district folder; every broken input is named by file, feature and problem."""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streams.cli import main
from streams.onboarding.district import DistrictSources, OnboardingError, build_district
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "onboarding"
PLACEHOLDER = "34.5012,113.8005,城市中心默认坐标"


def _args(out: Path, **files: Path) -> list[str]:
    paths = {
        "boundary": FIXTURES / "boundary.geojson",
        "unit-grids": FIXTURES / "unit_grids.geojson",
        "streets": FIXTURES / "streets.geojson",
        "gazetteer": FIXTURES / "gazetteer.csv",
        "holidays": FIXTURES / "holidays.csv",
        "inspectors": FIXTURES / "inspectors.csv",
        "supervisors": FIXTURES / "supervisors.csv",
        **{k.replace("_", "-"): v for k, v in files.items()},
    }
    argv = ["district", "init", str(out), "--name", "蓝溪区", "--admin-code", "419901"]
    argv += ["--timezone", "Asia/Shanghai", "--categories", str(FIXTURES / "city")]
    argv += ["--placeholder", PLACEHOLDER]
    for flag, path in paths.items():
        argv += [f"--{flag}", str(path)]
    return argv


def test_the_fictional_city_is_onboarded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lanxi"
    assert main(_args(out)) == 0
    assert "uncovered 0 m²" in capsys.readouterr().out
    district = District.load(out)  # a folder, as CITYSTREAM_DISTRICT may name it
    assert (district.lat_min, district.lat_max) == (34.5, 34.5018)
    assert (district.lon_min, district.lon_max) == (113.8, 113.8033)
    assert len(district.gazetteer) == 3 and len(district.placeholders) == 1
    # the top right square of the L is inside the box, outside the boundary
    lat = np.array([34.50045, 34.50135, 34.50135, 34.4999])
    lon = np.array([113.80275, 113.80275, 113.80055, 113.8010])
    assert district.contains(lat, lon).tolist() == [True, False, True, False]
    streets = StreetNetwork.for_district(district)
    assert [s.street_name for s in streets.segments] == ["蓝溪路", "石桥街", "石桥街"]
    assert [s.segment_id for s in streets.segments] == [0, 1, 2]
    assert round(streets.segments[0].length_m) == 302  # 0.0033° of longitude at 34.5° N
    env = dict(
        line.split("=", 1)
        for line in (out / "district.env").read_text().splitlines()
        if not line.startswith("#")
    )
    assert env["CITYSTREAM_DISTRICT"] == str((out / "district.json").resolve())
    assert env["CITYSTREAM_TIMEZONE"] == "Asia/Shanghai"
    assert Path(env["CITYSTREAM_CATEGORIES_FILE"]).is_file()
    assert Path(env["CITYSTREAM_HOLIDAY_FILES"]).read_text().startswith("date,kind,name")
    assert Path(env["CITYSTREAM_INSPECTOR_ROSTER"]).is_file()
    assert Path(env["CITYSTREAM_SUPERVISOR_ROSTER"]).is_file()
    assert main(_args(out)) == 2  # an existing district is not overwritten silently
    assert "already holds a district" in capsys.readouterr().err


def _edit(tmp_path: Path, name: str, change: Any) -> Path:
    doc = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    change(doc["features"])
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _problems(tmp_path: Path, **files: Path) -> str:
    src = DistrictSources(
        "蓝溪区",
        "419901",
        "Asia/Shanghai",
        files.get("boundary", FIXTURES / "boundary.geojson"),
        files.get("unit_grids", FIXTURES / "unit_grids.geojson"),
        files.get("streets", FIXTURES / "streets.geojson"),
        files.get("gazetteer", FIXTURES / "gazetteer.csv"),
        (FIXTURES / "holidays.csv",),
        FIXTURES / "inspectors.csv",
    )
    with pytest.raises(OnboardingError) as err:
        build_district(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
    return str(err.value)


def _ring(features: list[dict[str, Any]], n: int) -> list[list[float]]:
    ring: list[list[float]] = features[n]["geometry"]["coordinates"][0]
    return ring


def test_an_open_ring_is_named(tmp_path: Path) -> None:
    grids = _edit(tmp_path, "unit_grids.geojson", lambda f: _ring(f, 2).pop())
    assert _problems(tmp_path, unit_grids=grids) == (
        "unit_grids.geojson: feature 2 (grid_code 419901001001003): polygon 0 ring 0: ring is "
        "not closed (needs >= 4 positions, first == last; starts at (113.8022, 34.5), ends at "
        "(113.8022, 34.5009))"
    )


def test_overlaps_gaps_and_overhangs_are_measured(tmp_path: Path) -> None:
    def shift(features: list[dict[str, Any]]) -> None:
        for point in _ring(features, 0):  # 20 m east: over grid 1, off grid 0's west edge
            point[0] = round(point[0] + 0.00022, 6)

    text = _problems(tmp_path, unit_grids=_edit(tmp_path, "unit_grids.geojson", shift))
    lines = text.splitlines()
    assert len(lines) == 2, text
    overlap = re.fullmatch(
        r"unit_grids.geojson: features 0 \(grid_code 419901001001001\) and 1 \(grid_code "
        r"419901001001002\) overlap by ([\d,]+) m² \(tolerance 50 m²\)",
        lines[0],
    )
    gap = re.fullmatch(
        r"unit_grids.geojson: the unit grids leave ([\d,]+) m² of the boundary in "
        r"boundary.geojson uncovered, e.g. at \(34.50\d+, 113.800\d+\) \(tolerance 50 m²\)",
        lines[1],
    )
    assert overlap and gap, text
    true_m2 = 0.00022 * 111_195 * math.cos(math.radians(34.5)) * 0.0009 * 111_195  # 2,016 m²
    for found in (overlap, gap):  # within a lattice cell per row and edge
        assert abs(int(found.group(1).replace(",", "")) - true_m2) < 0.1 * true_m2

    def outside(features: list[dict[str, Any]]) -> None:
        extra = copy.deepcopy(features[0])
        extra["properties"]["grid_code"] = "419901001002009"
        for point in _ring([extra], 0):
            point[1] = round(point[1] - 0.0009, 6)  # one square south of the boundary
        features.append(extra)

    text = _problems(tmp_path, unit_grids=_edit(tmp_path, "unit_grids.geojson", outside))
    assert "feature 5 (grid_code 419901001002009): 10,1" in text  # 10,090 m² true
    assert "m² lie outside the boundary in boundary.geojson" in text


def test_codes_streets_and_addresses_are_checked(tmp_path: Path) -> None:
    def codes(features: list[dict[str, Any]]) -> None:
        features[1]["properties"]["grid_code"] = "419901001001001"  # feature 0's
        features[3]["properties"]["grid_code"] = "410611001002004"  # another district's

    def unnamed(features: list[dict[str, Any]]) -> None:
        del features[1]["properties"]["name"]

    gazetteer = tmp_path / "gazetteer.csv"
    shutil.copyfile(FIXTURES / "gazetteer.csv", gazetteer)
    with gazetteer.open("a", encoding="utf-8") as fh:
        fh.write("蓝溪路99号,34.50135,113.80275\n蓝溪路100号,north,113.8\n")
    text = _problems(
        tmp_path,
        unit_grids=_edit(tmp_path, "unit_grids.geojson", codes),
        streets=_edit(tmp_path, "streets.geojson", unnamed),
        gazetteer=gazetteer,
    )
    assert text.splitlines() == [
        "unit_grids.geojson: feature 1 (grid_code 419901001001001): duplicate of feature 0",
        "unit_grids.geojson: feature 3 (grid_code 410611001002004): does not match GB/T "
        "30428.1 (admin code + 9 digits) '419901\\\\d{3}\\\\d{3}\\\\d{2,3}'",
        "streets.geojson: feature 1: no street name (property 'name')",
        "gazetteer.csv:5: '蓝溪路99号' at (34.50135, 113.80275) lies outside the district boundary",
        "gazetteer.csv:6: lat/lon of '蓝溪路100号' not numbers",
        # the unnamed line was 石桥街, a patrol's home street
        f"{FIXTURES / 'inspectors.csv'}:3: home street(s) ['石桥街'] not in the street network",
    ]


def test_a_declared_code_pattern_replaces_the_national_one(tmp_path: Path) -> None:
    src = DistrictSources(
        "蓝溪区",
        "419901",
        "Asia/Shanghai",
        FIXTURES / "boundary.geojson",
        FIXTURES / "unit_grids.geojson",
        grid_code_pattern=r"41990100100[12]00[1-3]",
    )
    with pytest.raises(
        OnboardingError,
        match=r"feature 4 \(grid_code 419901001002005\): does not match the declared pattern",
    ):
        build_district(src, tmp_path / "out")


def test_bad_settings_are_named_before_reading_files(tmp_path: Path) -> None:
    src = DistrictSources("x", "41", "Mars/Olympus", tmp_path / "none.geojson")
    with pytest.raises(OnboardingError) as err:
        build_district(src, tmp_path / "out")
    assert err.value.errors == [
        "--timezone: unknown time zone 'Mars/Olympus' (use an IANA name)",
        "--admin-code: '41' is not a 6-digit admin area code",
        f"{tmp_path / 'none.geojson'}: no such file",
    ]
