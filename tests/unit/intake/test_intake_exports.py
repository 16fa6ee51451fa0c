"""311 exports as cities publish them: web-download headers beside API names, old exports
judged against their own times (never today's), placeholder positions dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pytest
from export_layouts import LAYOUTS, Layout, write_export

from streams.contracts.reasons import Reason
from streams.intake.adapters.csv311 import Csv311Error, Csv311Mapping, read_csv311
from streams.intake.normalize import Normalizer, NormalizerConfig
from streams.reference.categories import CategoryTable
from streams.reference.geo import District
from streams.replay import replay
from streams.replay.inputs import read_inputs
from streams.settings import Settings, load_settings
from tests.unit.nyc_district import NYC_DISTRICT

_NYC = {layout.variant: layout for layout in LAYOUTS if layout.city == "nyc"}
CITY_HALL = (40.712772, -74.006058)  # where a geocoder puts an address it cannot place


def _nyc_rows(layout: Layout, year: int) -> list[dict[str, str]]:
    def at(hour: int, minute: int) -> str:
        return datetime(year, 4, 2, hour, minute).strftime(layout.time_format)

    return [  # a pothole reported twice, trash, and a record without a usable position
        {"id": "41000001", "time": at(1, 5), "type": "Street Condition", "lat": "40.70810",
         "lon": "-74.01100", "status": "Open"},
        {"id": "41000002", "time": at(1, 20), "type": "Street Condition", "lat": "40.70815",
         "lon": "-74.01102", "status": "In Progress"},
        {"id": "41000003", "time": at(2, 0), "type": "Dirty Conditions", "lat": "40.7300",
         "lon": "-73.9900", "status": "Closed"},
        {"id": "41000004", "time": at(2, 30), "type": "Sewer", "lat": "0", "lon": "0",
         "status": "Open"},
    ]  # fmt: skip


@pytest.fixture
def nyc_district(tmp_path: Path) -> Path:
    path = tmp_path / "nyc.json"
    spec = {
        **NYC_DISTRICT,
        "placeholder_positions": [
            {"lat": CITY_HALL[0], "lon": CITY_HALL[1], "note": "City Hall, geocoder default"}
        ],
    }
    path.write_bytes(orjson.dumps(spec))
    return path


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env={})


def test_web_download_and_api_headers_read_alike(tmp_path: Path) -> None:
    mapping = Csv311Mapping.load("nyc")
    api = write_export(tmp_path / "api.csv", _NYC["api"], _nyc_rows(_NYC["api"], 2024))
    web = write_export(tmp_path / "web.csv", _NYC["web"], _nyc_rows(_NYC["web"], 2024), bom=True)
    from_api = [orjson.loads(r.value) for r in read_csv311(api, mapping)]
    from_web = [orjson.loads(r.value) for r in read_csv311(web, mapping)]
    assert from_api == from_web
    assert from_web[0] == {
        "service_request_id": "41000001",
        "requested_datetime": "2024-04-02T01:05:00-04:00",  # EDT
        "service_code": "Street Condition",
        "service_name": "Street Condition",
        "lat": 40.7081,
        "long": -74.011,
        "status": "open",
    }
    first = next(read_csv311(web, mapping))
    assert first.ref == "41000001"
    assert first.event_ms == int(datetime(2024, 4, 2, 5, 5, tzinfo=UTC).timestamp() * 1000)


def test_a_header_missing_a_mapped_column_names_the_alternatives(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("Unique Key,Created Date\n1,04/02/2024 01:05:00 AM\n", encoding="utf-8")
    with pytest.raises(Csv311Error, match=r"short\.csv: CSV lacks mapped column.*complaint_type"):
        list(read_csv311(path, Csv311Mapping.load("nyc")))
    path.write_text("unique_key,Unique Key\n1,2\n", encoding="utf-8")
    with pytest.raises(Csv311Error, match="'unique_key' and 'Unique Key' read alike"):
        list(read_csv311(path, Csv311Mapping.load("nyc")))


def test_an_unknown_mapping_name_is_an_error() -> None:
    with pytest.raises(Csv311Error, match="no such 311 mapping file"):
        Csv311Mapping.load("atlantis")


def test_arcgis_slashed_utc_times_parse() -> None:
    mapping = Csv311Mapping.load("nyc")
    assert mapping.local_time_iso("2024/04/02 05:05:00+00") == "2024-04-02T05:05:00+00:00"
    assert mapping.local_time_iso("02.04.2024") == "02.04.2024"  # left for the adapter


def test_an_old_export_replays_without_a_stale_time(
    tmp_path: Path, settings: Settings, nyc_district: Path
) -> None:
    """Five years old, replayed with the wall clock as the normalizer's clock: each record
    arrived when it was made, so none is stale and none is late."""
    path = write_export(tmp_path / "old.csv", _NYC["web"], _nyc_rows(_NYC["web"], 2019))
    nyc = settings.replace(district=str(nyc_district))
    result = replay(read_inputs([path], csv_mapping="nyc"), nyc)
    reasons = [d.reason for d in result.dead_letters]
    assert reasons == [Reason.BAD_COORDINATES]  # the 0,0 record, nothing stale
    assert [link["source_ref"] for link in result.links] == ["41000001", "41000002", "41000003"]
    assert result.links[1]["case_id"] == result.links[0]["event_id"]
    assert all(link["ingest_time_ms"] == link["event_time_ms"] for link in result.links)
    assert all(link["flags"] == 0 for link in result.links)  # not late


def test_placeholder_positions_are_dead_lettered(nyc_district: Path) -> None:
    district = District.load(nyc_district)
    normalizer = Normalizer(NormalizerConfig(), CategoryTable.load(), district)
    when = "2024-04-02T01:05:00-04:00"

    def request(ref: str, lat: float, lon: float) -> bytes:
        return orjson.dumps(
            {"service_request_id": ref, "service_code": "Sewer", "requested_datetime": when,
             "lat": lat, "long": lon}
        )  # fmt: skip

    at_ms = int(datetime(2024, 4, 2, 6, tzinfo=UTC).timestamp() * 1000)
    payloads = [
        request("a", *CITY_HALL),
        request("b", CITY_HALL[0] + 0.00001, CITY_HALL[1]),  # 1.1 m off: the same digits
        request("c", CITY_HALL[0] + 0.0005, CITY_HALL[1]),  # 56 m off: a real position
        request("d", 0.0, 0.0),
    ]
    result = normalizer.normalize("hotline", payloads, at_ms)
    assert result.batch.column("source_ref") == ["c"]
    dead = {d.index: d for d in result.dead_letters}
    assert {i: d.reason for i, d in dead.items()} == {
        0: Reason.PLACEHOLDER_POSITION,
        1: Reason.PLACEHOLDER_POSITION,
        3: Reason.BAD_COORDINATES,
    }
    assert "declared placeholder position" in dead[0].message
    assert "City Hall, geocoder default" in dead[0].message
    assert "null island" in dead[3].message
    mask = district.placeholder_at(np.array([CITY_HALL[0], 40.8]), np.array([CITY_HALL[1], -74]))
    assert mask.tolist() == [0, -1]


def test_optional_columns_may_be_missing_and_are_named(tmp_path: Path) -> None:
    """A web download of chosen columns: what it lacks is left out of every record, and the
    resolved mapping says which fields could not be read."""
    path = tmp_path / "chosen.csv"
    path.write_text(
        "Unique Key,Created Date,Complaint Type,Latitude,Longitude\n"
        "1,04/02/2024 01:05:00 AM,Sewer,40.7,-74.0\n",
        encoding="utf-8",
    )
    mapping = Csv311Mapping.load("nyc")
    resolved = mapping.resolve(path.read_text().splitlines()[0].split(","), path)
    assert "status (status)" in resolved.absent
    assert "zipcode (incident_zip)" in resolved.absent
    assert not any(a.startswith(("service_code", "lat ")) for a in resolved.absent)
    record = orjson.loads(next(read_csv311(path, mapping)).value)
    assert sorted(record) == ["lat", "long", "requested_datetime", "service_code",
                              "service_name", "service_request_id"]  # fmt: skip
