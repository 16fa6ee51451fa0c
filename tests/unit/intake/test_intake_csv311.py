"""311 CSV exports (NYC / Socrata columns) through a declared mapping into the hotline path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from streams.contracts.reasons import Reason
from streams.intake.adapters.csv311 import (
    Csv311Error,
    Csv311Mapping,
    iter_csv311,
    row_to_open311,
)
from streams.intake.normalize import Normalizer, NormalizerConfig
from streams.reference.categories import CategoryTable
from streams.reference.geo import District
from tests.unit.nyc_district import NYC_DISTRICT

_HEADER = (
    "unique_key,created_date,closed_date,agency,complaint_type,descriptor,"
    "incident_address,status,latitude,longitude\n"
)
_ROWS = [
    "59893111,11/05/2023 02:31:44 PM,,DOT,Street Condition,Pothole,"
    "120 BROADWAY,Open,40.7081,-74.0110",
    "59893112,2023-11-05T09:00:00.000,,DSNY,Dirty Conditions,Trash,"
    "1 CENTRE ST,Closed,40.7127,-74.0041",
    "59893113,11/05/2023 03:00:00 PM,,NYPD,Noise - Residential,Loud Music,,Open,40.71,-74.00",
    "59893114,13/45/2023,,DOT,Street Light Condition,Out,,Open,40.71,-74.00",
    "59893115,11/05/2023 03:00:00 PM,,DOT,Sewer,Catch Basin,,Open,,",
    "59893116,11/05/2023 03:00:00 PM,,DOT,Sewer,Catch Basin,,In Progress,abc,-74.0",
]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "nyc311.csv"
    path.write_text(_HEADER + "\n".join(_ROWS) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def nyc_normalizer(tmp_path: Path) -> Normalizer:
    spec = NYC_DISTRICT
    (tmp_path / "nyc.json").write_bytes(orjson.dumps(spec))
    now = int(datetime(2023, 11, 6, tzinfo=UTC).timestamp() * 1000)
    return Normalizer(
        NormalizerConfig(), CategoryTable.load(), District.load(tmp_path / "nyc.json"), lambda: now
    )


def test_rows_become_open311_records(csv_file: Path) -> None:
    records = [orjson.loads(r) for r in iter_csv311(csv_file, Csv311Mapping.load())]
    assert len(records) == len(_ROWS)
    first = records[0]
    assert first["service_request_id"] == "59893111"
    assert first["service_code"] == "Street Condition"
    assert first["description"] == "Pothole"
    assert first["requested_datetime"] == "2023-11-05T14:31:44-05:00"  # EST after the DST end
    assert (first["lat"], first["long"], first["status"]) == (40.7081, -74.011, "open")
    assert records[1]["requested_datetime"] == "2023-11-05T09:00:00-05:00"
    assert records[1]["status"] == "closed"
    assert "lat" not in records[4]  # empty cells are left out
    assert records[5]["lat"] == "abc"  # passed through: the adapter names the problem


def test_backfill_through_the_normalizer(csv_file: Path, nyc_normalizer: Normalizer) -> None:
    payloads = list(iter_csv311(csv_file, Csv311Mapping.load()))
    result = nyc_normalizer.normalize("hotline", payloads, None)
    assert result.batch.column("source_ref") == ["59893111", "59893112"]
    assert result.batch.events["event_time_ms"][0] == int(
        datetime(2023, 11, 5, 19, 31, 44, tzinfo=UTC).timestamp() * 1000
    )
    reasons = {d.index: d.reason for d in result.dead_letters}
    assert reasons == {
        2: Reason.UNKNOWN_CATEGORY,  # noise is not a city-management category here
        3: Reason.BAD_TIME,
        4: Reason.MISSING_FIELD,  # no coordinates and no address
        5: Reason.WRONG_TYPE,
    }


def test_mapping_and_header_are_validated(tmp_path: Path, csv_file: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_bytes(orjson.dumps({"name": "x", "timezone": "UTC", "columns": {"color": "c"}}))
    with pytest.raises(Csv311Error, match="not Open311 fields"):
        Csv311Mapping.load(bad)
    bad.write_bytes(orjson.dumps({"name": "x", "timezone": "UTC", "columns": {"lat": "y"}}))
    with pytest.raises(Csv311Error, match="required"):
        Csv311Mapping.load(bad)
    mapping = Csv311Mapping.load()
    short = tmp_path / "short.csv"
    short.write_text("unique_key,created_date\n1,2\n", encoding="utf-8")
    with pytest.raises(Csv311Error, match="lacks mapped column"):
        list(iter_csv311(short, mapping))


def test_nan_coordinates_are_not_silently_dropped() -> None:
    mapping = Csv311Mapping.load()
    record = orjson.loads(row_to_open311({"latitude": "nan", "longitude": "-74"}, mapping))
    assert record["lat"] == "nan"
