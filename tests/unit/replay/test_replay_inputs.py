"""Replay inputs: simulator folders, .jsonl files, 311 CSV exports, and their errors."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from replay_feed import Feed

from streams.contracts.reasons import Reason
from streams.intake.normalize import Normalizer, NormalizerConfig
from streams.reference.categories import CategoryTable
from streams.reference.geo import District
from streams.replay import RawInput, replay
from streams.replay.inputs import InputError, read_inputs
from streams.settings import Settings
from streams.simulator.framing import MAGIC, write_framed
from streams.simulator.sinks import FileSink
from tests.unit.nyc_district import NYC_DISTRICT


def write_sim_folder(feed: Feed, out: Path) -> Path:
    """What ``citystream simulate --out DIR`` writes for the raw feed."""
    sink = FileSink(out)
    try:
        for rec in feed.records:
            sink.write(rec)
    finally:
        sink.close()
    return out


def test_simulator_folder_is_read_back_in_arrival_order(
    feed: Feed, settings: Settings, tmp_path: Path
) -> None:
    folder = write_sim_folder(feed, tmp_path / "sim")
    assert sorted(p.name for p in folder.glob("raw.*.rec")) == [
        "raw.hotline.rec",
        "raw.patrol.rec",
        "raw.sensor.rec",
    ]
    got = list(read_inputs([folder]))
    arrivals = [r.arrival_ms for r in got]
    assert None not in arrivals
    assert arrivals == sorted(a for a in arrivals if a is not None)
    assert Counter(got) == Counter(feed.inputs)
    # the same feed from files replays to the same result as from memory
    a, b = replay(got, settings), replay(feed.inputs, settings)
    assert (a.links, a.cases) == (b.links, b.cases)
    assert sorted(d.original for d in a.dead_letters) == sorted(d.original for d in b.dead_letters)


def test_position_pings_in_a_simulator_folder_are_not_read_as_reports(
    feed: Feed, tmp_path: Path
) -> None:
    folder = write_sim_folder(feed, tmp_path / "sim")
    pings = folder / "raw.patrol_track.rec"  # what `citystream simulate --tracks` adds
    with open(pings, "wb") as fh:
        fh.write(MAGIC)
        write_framed(fh, b"CGT-0017", b'{"device_id": "CGT-0017"}', 1)
    assert Counter(read_inputs([folder])) == Counter(feed.inputs)
    for source in (None, "patrol"):
        with pytest.raises(InputError, match="patrol_track records, not reports"):
            list(read_inputs([pings], source=source))


def _good_hotline_values(feed: Feed) -> list[bytes]:
    bad = {t.source_ref for t in feed.truth if t.source == "hotline" and t.expected_reason}
    values = [
        r.value
        for r in feed.records
        if r.source == "hotline" and r.truth[0].source_ref not in bad and b"\n" not in r.value
    ]
    assert len(values) >= 5
    return values


def test_jsonl_with_declared_source(feed: Feed, tmp_path: Path) -> None:
    values = _good_hotline_values(feed)
    path = tmp_path / "calls.jsonl"
    path.write_bytes(b"\r\n".join(values[:2]) + b"\n\n" + b"\n".join(values[2:]) + b"\n")
    got = list(read_inputs([path], source="hotline"))
    assert got == [RawInput("hotline", v, None) for v in values]
    with pytest.raises(InputError, match="cannot tell the source"):
        list(read_inputs([path]))


def test_jsonl_source_from_its_name(feed: Feed, tmp_path: Path) -> None:
    values = _good_hotline_values(feed)[:3]
    path = tmp_path / "raw.patrol.2023-07.ndjson"
    path.write_bytes(b"\n".join(values))
    assert [r.source for r in read_inputs([path])] == ["patrol"] * 3


@pytest.mark.parametrize(
    ("name", "source", "match"),
    [
        ("feed.txt", None, "unknown input format"),
        ("raw.sensor.parquet", None, "unknown input format"),
        ("calls.jsonl", "radar", "--source must be one of"),
        ("raw.sensor.hotline.jsonl", None, "cannot tell the source"),
    ],
)
def test_bad_inputs_are_refused(tmp_path: Path, name: str, source: str | None, match: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"{}\n")
    with pytest.raises(InputError, match=match):
        list(read_inputs([path], source=source))


def test_missing_file_and_empty_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a file"):
        list(read_inputs([tmp_path / "nope.jsonl"], source="sensor"))
    with pytest.raises(InputError, match="no raw"):
        list(read_inputs([tmp_path]))


def test_damaged_record_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "raw.sensor.rec"
    path.write_bytes(b"not a record file")
    with pytest.raises(InputError, match="bad magic"):
        list(read_inputs([path]))


_CSV_HEADER = (
    "unique_key,created_date,closed_date,agency,complaint_type,descriptor,"
    "incident_address,status,latitude,longitude\n"
)
_CSV_ROWS = [  # two reports of one pothole 10 m and 10 minutes apart, trash, noise
    "70000001,11/05/2023 02:31:44 PM,,DOT,Street Condition,Pothole,,Open,40.70810,-74.01100",
    "70000002,11/05/2023 02:41:44 PM,,DOT,Street Condition,Pothole,,Open,40.70819,-74.01100",
    "70000003,11/05/2023 03:00:00 PM,,DSNY,Dirty Conditions,Trash,,Open,40.7300,-73.9900",
    "70000004,11/05/2023 03:00:00 PM,,NYPD,Noise - Residential,Loud,,Open,40.71,-74.00",
]


@pytest.fixture
def nyc_district(tmp_path: Path) -> Path:
    spec = NYC_DISTRICT
    path = tmp_path / "nyc.json"
    path.write_bytes(orjson.dumps(spec))
    return path


def test_csv311_export_replays_as_hotline_calls(
    tmp_path: Path, settings: Settings, nyc_district: Path
) -> None:
    path = tmp_path / "nyc311.csv"
    path.write_text(_CSV_HEADER + "\n".join(_CSV_ROWS) + "\n", encoding="utf-8")
    records = list(read_inputs([path]))
    assert [r.source for r in records] == ["hotline"] * 4
    assert all(r.arrival_ms is None for r in records)
    assert orjson.loads(records[0].value)["service_request_id"] == "70000001"

    nyc = settings.replace(district=str(nyc_district))
    now = int(datetime(2023, 11, 6, tzinfo=UTC).timestamp() * 1000)
    normalizer = Normalizer(
        NormalizerConfig.from_settings(nyc),
        CategoryTable.load(),
        District.load(nyc_district),
        lambda: now,
    )
    result = replay(records, nyc, normalizer)
    assert [link["source_ref"] for link in result.links] == ["70000001", "70000002", "70000003"]
    assert [link["case_id"] for link in result.links[:2]] == [result.links[0]["event_id"]] * 2
    assert [c["department"] for c in result.cases] == ["municipal", "sanitation"]
    assert [d.reason for d in result.dead_letters] == [Reason.UNKNOWN_CATEGORY]
    # no arrival time in a CSV export: a call arrived when it was made
    assert all(link["ingest_time_ms"] == link["event_time_ms"] for link in result.links)


def test_csv_lacking_mapped_columns_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("unique_key,created_date\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="lacks mapped column"):
        list(read_inputs([path]))
