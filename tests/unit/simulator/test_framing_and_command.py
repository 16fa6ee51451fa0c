from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import orjson
import pytest

from streams.cli import simulate as command
from streams.settings import load_settings
from streams.simulator import read_framed, read_records
from streams.simulator.framing import MAGIC, FramingError, write_framed


def test_framing_keeps_any_bytes_exactly(tmp_path: Path) -> None:
    values = [b"", b"\xff\xfe\n{\n", b'{"a":1}\r\n', bytes(range(256)) * 300]
    path = tmp_path / "x.rec"
    with open(path, "wb") as fh:
        fh.write(MAGIC)
        for i, v in enumerate(values):
            write_framed(fh, f"k{i}".encode(), v, 1000 + i)
    assert list(read_records(path)) == values
    assert [r.key for r in read_framed(path)] == [b"k0", b"k1", b"k2", b"k3"]
    assert [r.arrival_ms for r in read_framed(path)] == [1000, 1001, 1002, 1003]


def test_framing_refuses_foreign_and_truncated_files(tmp_path: Path) -> None:
    foreign = tmp_path / "a.rec"
    foreign.write_bytes(b'{"not": "framed"}\n')
    with pytest.raises(FramingError, match="magic"):
        list(read_records(foreign))
    cut = tmp_path / "b.rec"
    with open(cut, "wb") as fh:
        fh.write(MAGIC)
        write_framed(fh, b"k", b"0123456789", 1)
    cut.write_bytes(cut.read_bytes()[:-3])
    with pytest.raises(FramingError, match="truncated"):
        list(read_records(cut))


def _args(tmp_path: Path, **extra: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    argv = ["--scale", "0.02", "--seed", "4", "--out", str(tmp_path), "--quiet"]
    for k, v in extra.items():  # a value "" is a flag without a value
        argv += [f"--{k.replace('_', '-')}", str(v)] if v != "" else [f"--{k}"]
    return parser.parse_args(argv)


def test_simulate_writes_records_truth_and_side_files(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert command.run(settings, _args(tmp_path / "a", records_limit=500)) == 0
    out = tmp_path / "a"
    counts = {
        s: sum(1 for _ in read_records(out / f"raw.{s}.rec"))
        for s in ("sensor", "hotline", "patrol")
    }
    assert sum(counts.values()) == 500
    truth = list(csv.DictReader(io.StringIO((out / "truth.csv").read_text(encoding="utf-8"))))
    seqs = {(t["source"], int(t["source_seq"])) for t in truth}
    assert len(seqs) == 500
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["records"] == counts and manifest["seed"] == 4
    incidents = (out / "incidents.csv").read_text(encoding="utf-8").splitlines()
    assert incidents[0].startswith("incident_id,category,lat,lon")
    assert {t["incident_id"] for t in truth} <= {line.split(",")[0] for line in incidents[1:]}
    assert (out / "patrols.csv").read_text(encoding="utf-8").count("\n") > 50


def test_simulate_is_byte_identical_across_runs(tmp_path: Path) -> None:
    settings = load_settings(env={})
    for name in ("a", "b"):
        assert command.run(settings, _args(tmp_path / name)) == 0
    for f in ("raw.sensor.rec", "raw.hotline.rec", "raw.patrol.rec", "truth.csv", "incidents.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_simulate_refuses_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(env={})
    assert command.run(settings, _args(tmp_path, days=0)) == 2
    assert "days" in capsys.readouterr().err
    assert command.run(settings, _args(tmp_path, shirkers=1.5)) == 2
    assert "shirker share" in capsys.readouterr().err


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_simulate_tracks_writes_the_ping_feed_and_its_truth(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert command.run(settings, _args(tmp_path / "plain", days=1)) == 0
    assert command.run(settings, _args(tmp_path / "t", days=1, tracks="", shirkers=0.1)) == 0
    out = tmp_path / "t"
    batches = list(read_framed(out / "raw.patrol_track.rec"))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["records"]["patrol_track"] == len(batches) > 100
    assert manifest["tracks"] and len(manifest["shirkers"]) == 6
    pings = _csv_rows(out / "track_truth.csv")
    sent = sum(len(orjson.loads(b.value).get("points", ())) for b in batches[:50])
    assert sum(1 for p in pings if int(p["source_seq"]) < 50) >= sent > 0
    assert {p["device_id"] for p in pings} == {b.key.decode() for b in batches}
    planned = _csv_rows(out / "patrol_truth.csv")
    skipped = [p for p in planned if p["walked"] == "0"]
    assert skipped and all(p["shirker"] == "1" for p in skipped)
    assert {p["patrol_id"] for p in pings} == {p["patrol_id"] for p in planned} - {
        p["patrol_id"] for p in skipped
    }
    # no shirkers: the same reports as without the track feed
    assert command.run(settings, _args(tmp_path / "t0", days=1, tracks="")) == 0
    for f in ("raw.sensor.rec", "raw.hotline.rec", "raw.patrol.rec", "truth.csv"):
        assert (tmp_path / "plain" / f).read_bytes() == (tmp_path / "t0" / f).read_bytes(), f
    assert not (tmp_path / "plain" / "raw.patrol_track.rec").exists()
