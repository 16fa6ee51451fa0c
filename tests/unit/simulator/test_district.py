from __future__ import annotations

import csv
import io
import itertools
import json
from collections import Counter
from datetime import date, timedelta

from streams.simulator.district import DISTRICTS_DIR, District, build_district
from streams.simulator.district_files import (
    SEGMENT_MAX_M,
    gazetteer_csv,
    streets_geojson,
    unit_grids_geojson,
)
from streams.simulator.patrols import schedule_day


def test_committed_district_files_are_what_the_code_generates(district: District) -> None:
    # If this fails, run: citystream simulate --write-district (and commit the files).
    gaz = (DISTRICTS_DIR / "qibin_gazetteer.csv").read_text(encoding="utf-8")
    grids = (DISTRICTS_DIR / "qibin_unit_grids.geojson").read_text(encoding="utf-8")
    streets = (DISTRICTS_DIR / "qibin_streets.geojson").read_text(encoding="utf-8")
    assert gaz == gazetteer_csv(district)
    assert grids == unit_grids_geojson(district)
    assert streets == streets_geojson(district)


def test_street_segments_cut_each_street_into_equal_pieces_of_at_most_100_m(
    district: District,
) -> None:
    features = json.loads(streets_geojson(district))["features"]
    ids = [f["properties"]["segment_id"] for f in features]
    assert len(set(ids)) == len(ids)
    by_street: dict[str, list[dict]] = {}
    for f in features:
        by_street.setdefault(f["properties"]["street_name"], []).append(f)
    assert set(by_street) == {s.name for s in district.streets}
    for street in district.streets:
        segs = by_street[street.name]
        lengths = [f["properties"]["length_m"] for f in segs]
        assert max(lengths) <= SEGMENT_MAX_M
        assert max(lengths) - min(lengths) <= 0.01  # equal pieces (rounded to cm)
        assert len(segs) == -(-street.length // SEGMENT_MAX_M)  # ceil(L / 100 m)
        assert abs(sum(lengths) - street.length) < 0.01 * len(segs)
        for a, b in itertools.pairwise(segs):  # consecutive pieces meet
            assert a["geometry"]["coordinates"][-1] == b["geometry"]["coordinates"][0]
            assert b["properties"]["segment_id"] == a["properties"]["segment_id"] + 1
        assert len({f["properties"]["street_id"] for f in segs}) == 1


def test_same_seed_same_district_other_seed_other_streets(district: District) -> None:
    again = build_district()
    assert [s.xs for s in again.streets] == [s.xs for s in district.streets]
    other = build_district(seed=99)
    assert [s.xs for s in other.streets] != [s.xs for s in district.streets]


def test_unit_grids_are_15_digit_codes_of_about_a_hectare(district: District) -> None:
    doc = json.loads(unit_grids_geojson(district))
    features = doc["features"]
    assert 300 <= len(features) <= 2000
    codes = [f["properties"]["grid_code"] for f in features]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert len(code) == 15 and code.isdigit() and code.startswith("410611")
    ring = features[0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    width_m = (ring[1][0] - ring[0][0]) * 111_320 * 0.8117  # cos(35.73 deg)
    assert 90 < width_m < 110


def test_gazetteer_addresses_are_unique_and_inside_bounds(district: District) -> None:
    rows = list(csv.DictReader(io.StringIO(gazetteer_csv(district))))
    assert 2000 <= len(rows) <= 5000
    assert len({r["address"] for r in rows}) == len(rows)
    assert all(r["address"].endswith("号") for r in rows)
    assert all(district.inside(float(r["lat"]), float(r["lon"])) for r in rows)


def test_devices_have_cjt214_ids_and_sit_inside_the_district(district: District) -> None:
    assert 2000 <= len(district.devices) <= 8000
    ids = [d.device_id for d in district.devices]
    assert len(set(ids)) == len(ids)
    for d in district.devices:
        assert len(d.device_id) == 16 and d.device_id.isdigit()
        assert d.device_id.startswith("410611")
        assert district.inside(d.lat, d.lon)
    covers = [d for d in district.devices if d.device_type == "manhole_cover"]
    assert all(d.component == "C" + d.device_id[6:10] for d in covers)
    kinds = Counter(d.device_type for d in district.devices)
    assert set(kinds) == {
        "manhole_cover",
        "smart_pole",
        "street_light",
        "camera",
        "water_level_gauge",
    }


def test_patrol_rules_heads_three_a_week_chiefs_daily(district: District) -> None:
    start = date(2023, 7, 27)  # a Thursday: the week spans two calendar weeks
    per_inspector: Counter[str] = Counter()
    chief_days: dict[str, set[date]] = {}
    for k in range(7):
        day = start + timedelta(days=k)
        for p in schedule_day(district, seed=3, day=day):
            per_inspector[p.inspector.inspector_id] += 1
            if p.inspector.role == "chief":
                chief_days.setdefault(p.inspector.inspector_id, set()).add(day)
            assert p.end_ms > p.start_ms and p.length_m > 0
    heads = [i for i in district.inspectors if i.role == "head"]
    chiefs = [i for i in district.inspectors if i.role == "chief"]
    assert heads and chiefs
    for head in heads:
        assert per_inspector[head.inspector_id] >= 3
    for chief in chiefs:
        assert len(chief_days[chief.inspector_id]) == 7


def test_staff_beats_cover_every_street(district: District) -> None:
    walked = {s for i in district.inspectors if i.role == "staff" for s in i.beat}
    assert walked == set(range(len(district.streets)))
