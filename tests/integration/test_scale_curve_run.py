"""The scale curve command (``make bench-scale``) in its smoke mode, on the real services:
two workers in one group on two partitions, for the fused path and for ingest."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from clickhouse_driver import Client
from kafka import KafkaAdminClient

from bench.e2e.scale import main

pytestmark = pytest.mark.integration


def test_the_smoke_scale_curve_writes_its_table_plot_and_figures(
    kafka_bootstrap: str, clickhouse: Client, tmp_path: Path
) -> None:
    out = tmp_path / "scale"
    assert main(["--smoke", "--workers", "1,2", "--partitions", "2", "--out", str(out)]) == 0
    points = json.loads((out / "scale.json").read_text())["points"]
    assert {(p["path"], p["workers"], p["partitions"]) for p in points} == {
        (path, w, 2) for path in ("e2e-dedup", "e2e-ingest") for w in (1, 2)
    }
    assert all(p["events"] > 0 and p["seconds"] > 0 for p in points)
    table = (out / "scale.md").read_text()
    assert "| e2e-dedup | 2 |" in table and "| e2e-ingest | 2 |" in table
    assert "SMOKE" in table
    svg = ET.fromstring((out / "scale.svg").read_text())
    assert len(svg.findall("{http://www.w3.org/2000/svg}polyline")) == 2
    # every point cleaned up after itself (a deletion reaches the metadata a moment later)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        deadline = time.monotonic() + 30
        while left_topics := [t for t in admin.list_topics() if t.startswith("bench-e2e-scale-")]:
            assert time.monotonic() < deadline, f"topics left behind: {left_topics}"
            time.sleep(0.5)
    finally:
        admin.close()
    left = clickhouse.execute(
        "SELECT name FROM system.databases WHERE name LIKE 'bench_bench_e2e_scale_%'"
    )
    assert left == []
