"""``citystream replay``: output files that reconcile with the summary and the feed."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import orjson
import pytest
from replay_feed import Feed
from test_replay_inputs import write_sim_folder

from streams.cli import main
from streams.replay import replay
from streams.settings import ENV_PREFIX, Settings


@pytest.fixture(autouse=True)
def _default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)


def _jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_replay_writes_cases_links_dead_letters_and_summary(
    feed: Feed, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_sim_folder(feed, tmp_path / "sim")
    out = tmp_path / "out"
    assert main(["replay", str(folder), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "cases.jsonl",
        "dead_letters.jsonl",
        "links.jsonl",
        "summary.json",
    ]
    summary = orjson.loads((out / "summary.json").read_bytes())
    printed = capsys.readouterr()
    assert orjson.loads(printed.out) == summary  # stdout is the JSON alone: pipeable to jq
    assert "records read" in printed.err and f"wrote {out}/cases.jsonl" in printed.err
    cases, links = _jsonl(out / "cases.jsonl"), _jsonl(out / "links.jsonl")
    letters = _jsonl(out / "dead_letters.jsonl")
    assert summary["records_total"] == len(feed.records)
    assert (summary["cases"], summary["events"]) == (len(cases), len(links))
    assert summary["dead_letters"] == len(letters)
    assert summary["dead_letters_by_reason"] == dict(Counter(d["reason"] for d in letters))
    expected = replay(feed.inputs, settings)
    assert links == orjson.loads(orjson.dumps(expected.links))
    assert cases == orjson.loads(orjson.dumps(expected.cases))
    assert Counter(t.expected_reason for t in feed.truth if t.expected_reason) == Counter(
        d["reason"] for d in letters
    )


def test_replay_csv_format(feed: Feed, tmp_path: Path) -> None:
    folder = write_sim_folder(feed, tmp_path / "sim")
    out = tmp_path / "out"
    assert main(["replay", str(folder), "--out", str(out), "--format", "csv"]) == 0
    summary = orjson.loads((out / "summary.json").read_bytes())
    with (out / "links.csv").open(encoding="utf-8", newline="") as fh:
        links = list(csv.DictReader(fh))
    with (out / "cases.csv").open(encoding="utf-8", newline="") as fh:
        cases = list(csv.DictReader(fh))
    assert (len(links), len(cases)) == (summary["events"], summary["cases"])
    assert {c["case_id"] for c in cases} == {row["case_id"] for row in links}


def test_bad_input_exits_2_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "feed.txt"
    bad.write_text("x", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["replay", str(bad), "--out", str(out)]) == 2
    assert "unknown input format" in capsys.readouterr().err
    assert not out.exists()
    damaged = tmp_path / "raw.sensor.rec"
    damaged.write_bytes(b"junk")
    assert main(["replay", str(damaged), "--out", str(out)]) == 2
    assert "bad magic" in capsys.readouterr().err
