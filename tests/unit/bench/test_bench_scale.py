"""The scale curve's table and plot, its arguments, and the fused feed over P raw partitions."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from bench.e2e.feed import WATERMARK_KEY, build_fused_feed
from bench.e2e.scale import main, parse_args
from bench.e2e.scale_report import ScalePoint, nice_ceiling, render_svg, render_table
from streams.contracts.topics import RAW_TOPICS
from streams.contracts.watermarks import decode_watermark
from streams.settings import load_settings
from streams.simulator import Simulation

SVG = "{http://www.w3.org/2000/svg}"


def _points() -> list[ScalePoint]:
    return [
        ScalePoint(path, w, p, 100_000, 100_000 / (rate * w * (1 + (p - 1) / 11)), 0.1)
        for path, rate in (("e2e-dedup", 200_000.0), ("e2e-ingest", 8_000.0))
        for p in (1, 6, 12)
        for w in (1, 2, 3)
    ]


def test_the_table_has_a_row_per_path_and_partitions_and_a_column_per_workers() -> None:
    text = render_table(_points(), "2 cores, smoke")
    lines = text.splitlines()
    assert lines[0] == "| path | partitions | 1 worker | 2 workers | 3 workers |"
    rows = [line for line in lines[2:] if line.startswith("| e2e")]
    assert len(rows) == 6
    assert rows[0] == "| e2e-dedup | 1 | 200.0 k/s | 400.0 k/s | 600.0 k/s |"
    assert rows[3].startswith("| e2e-ingest | 1 | 8.0 k/s | 16.0 k/s |")
    assert text.rstrip().endswith("2 cores, smoke")


def test_a_missing_point_leaves_its_cell_empty() -> None:
    points = [p for p in _points() if (p.path, p.workers, p.partitions) != ("e2e-dedup", 3, 6)]
    row = next(r for r in render_table(points, "").splitlines() if r.startswith("| e2e-dedup | 6"))
    assert row.endswith("|  |")


def test_the_plot_is_svg_with_a_line_per_path_and_partition_count() -> None:
    svg = render_svg(_points(), "AMD EPYC <2 cores> & co")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 6  # 2 paths x 3 partition counts
    assert all(len(line.get("points", "").split()) == 3 for line in lines)  # 1, 2, 3 workers
    assert len(root.findall(f"{SVG}circle")) == 18
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "AMD EPYC <2 cores> & co" in texts  # escaped in the file, whole in the tree
    assert "fused path (dedup role)" in texts and "ingest (normalize + sink)" in texts
    # higher rates are higher up: 3 workers above 1 worker on every line
    for line in lines:
        ys = [float(xy.split(",")[1]) for xy in line.get("points", "").split()]
        assert ys[2] < ys[0]
    with pytest.raises(ValueError):
        render_svg([], "")


@pytest.mark.parametrize(
    ("value", "top"), [(0.0, 1.0), (3.0, 5.0), (10.0, 10.0), (180_000, 200_000), (21_000, 25_000)]
)
def test_nice_ceiling(value: float, top: float) -> None:
    assert nice_ceiling(value) == top


def test_arguments() -> None:
    args = parse_args(["--workers", "1,2", "--partitions", "6", "--paths", "e2e-ingest"])
    assert (args.workers, args.partitions, args.paths) == ([1, 2], [6], ["e2e-ingest"])
    assert parse_args([]).workers == [1, 2, 3] and parse_args([]).partitions == [1, 6, 12]
    with pytest.raises(SystemExit):
        parse_args(["--paths", "e2e-latency"])


def test_the_fused_feed_deals_the_day_over_the_raw_partitions() -> None:
    day = sorted(Simulation("typhoon", 1, 0.004).records(), key=lambda r: r.arrival_ms)
    one = build_fused_feed(load_settings().replace(partitions=1), day)
    settings = load_settings().replace(partitions=3)
    three = build_fused_feed(settings, day)
    ids = np.sort(three.events.events["event_id"])
    assert np.array_equal(ids, np.sort(one.events.events["event_id"]))  # the same events
    frames = [(decode_watermark(m[1]), m[2]) for m in three.messages if m[0] == WATERMARK_KEY]
    raw = {settings.kafka.topic(t) for t in RAW_TOPICS.values()}
    # every raw partition reports, to every fused partition, and ends idle
    assert {(f.topic, f.partition) for f, _ in frames} == {(t, p) for t in raw for p in range(3)}
    assert {target for _, target in frames} == {0, 1, 2}
    last = {(f.topic, f.partition, target): f.idle for f, target in frames}
    assert all(last.values()) and len(last) == 3 * 3 * 3
    # marks of a raw partition only grow until its idle frame
    marks: dict[tuple[str, int], int] = {}
    for f, _ in frames:
        assert f.watermark_ms >= marks.get((f.topic, f.partition), -1)
        marks[f.topic, f.partition] = f.watermark_ms


def test_a_saved_run_is_redrawn(tmp_path: Path) -> None:
    points = _points()
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"caption": "c", "points": [asdict(p) for p in points]}))
    assert main(["--render", str(saved), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "scale.md").read_text() == render_table(points, "c")
    assert (tmp_path / "out" / "scale.svg").read_text() == render_svg(points, "c")
