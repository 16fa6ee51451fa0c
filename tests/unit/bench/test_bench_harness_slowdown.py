"""The guard catches a kernel made 2x slower on purpose, through the real harness path.

A tiny benchmark module (written to a temporary folder) times the bucketing kernel
``kernels.cell_ids`` beside its pure-Python reference in three independent trials: a
baseline run, a rerun, and a run that calls the kernel twice per round. It runs in a child
pytest through ``bench.harness.runner.run_pytest`` (the command ``citystream bench`` runs),
each trial's pytest-benchmark JSON is analysed by ``runner.main`` (``citystream bench
--from-json``), and the exit code says whether the guard passed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench.harness import runner

PROBE = """
import numpy as np
import pytest

from bench.harness import SUBJECT, peer, record
from kernels import GridSpec, cell_ids
from kernels.reference import ref_cell_ids

SPEC = GridSpec(35.7331, 114.2972)
RNG = np.random.default_rng(3)
LAT = 35.7331 + RNG.uniform(-0.1, 0.1, 400_000)
LON = 114.2972 + RNG.uniform(-0.1, 0.1, 400_000)
TRIALS = {"base": 1, "again": 1, "slow": 2}  # trial -> kernel calls per round


@pytest.mark.bench
@pytest.mark.parametrize("trial", list(TRIALS))
def test_kernel(benchmark, trial):
    record(benchmark, path=f"bucketing-{trial}", role=SUBJECT, events=len(LAT))
    cell_ids(LAT[:8], LON[:8], SPEC)  # compiled before timing

    def run():
        for _ in range(TRIALS[trial]):  # the injected slowdown: the kernel runs twice
            out = cell_ids(LAT, LON, SPEC)
        return out

    benchmark(run)


@pytest.mark.bench
@pytest.mark.parametrize("trial", list(TRIALS))
def test_reference(benchmark, trial):
    lat, lon = LAT[:2000].tolist(), LON[:2000].tolist()
    record(benchmark, path=f"bucketing-{trial}", role=peer("reference"), events=len(lat))
    benchmark(ref_cell_ids, lat, lon, SPEC)


@pytest.mark.bench
def test_memory(benchmark):
    record(benchmark, path="memory", role=SUBJECT, events=1)
    benchmark.pedantic(lambda: np.ones(25_000_000).sum(), rounds=1, iterations=1)
"""


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One child pytest run of the three trials (a few seconds)."""
    folder = tmp_path_factory.mktemp("bench_probe")
    (folder / "test_probe_bucketing.py").write_text(PROBE, encoding="utf-8")
    out = folder / "latest.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYSTREAM_")}
    rc = runner.run_pytest(
        [folder / "test_probe_bucketing.py"],
        out,
        smoke=False,
        env=env,
        extra=["-p", "bench.harness.plugin", "-q", "--benchmark-max-time=0.25"],
    )
    assert rc == 0, f"the probe benchmarks failed (pytest exit {rc})"
    raw: dict[str, Any] = json.loads(out.read_text())
    return raw


def _trial(raw: dict[str, Any], trial: str, folder: Path) -> Path:
    """The trial's benchmarks under the group name the baseline knows, as a JSON file."""
    picked = []
    for bench in raw["benchmarks"]:
        if bench["extra_info"].get("path") == f"bucketing-{trial}":
            bench = json.loads(json.dumps(bench))
            bench["extra_info"]["path"] = "bucketing"
            picked.append(bench)
    assert len(picked) == 2
    path = folder / f"{trial}.json"
    path.write_text(json.dumps({"benchmarks": picked}))
    return path


def _guard(json_path: Path, tmp_path: Path, *, update: bool = False) -> int:
    options = runner.BenchOptions(
        out_dir=tmp_path / "out",
        baseline=tmp_path / "baseline.json",
        from_json=json_path,
        update_baseline=update,
    )
    return runner.main(options, env={})


def test_guard_fails_the_2x_slower_kernel_and_passes_a_rerun(
    probe_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _guard(_trial(probe_run, "base", tmp_path), tmp_path, update=True) == 0
    baseline = json.loads((tmp_path / "baseline.json").read_text())
    assert baseline["groups"]["bucketing"]["ratios"]["reference"] > 1

    assert _guard(_trial(probe_run, "again", tmp_path), tmp_path) == 0, capsys.readouterr().out
    assert "regression guard PASSED" in capsys.readouterr().out

    assert _guard(_trial(probe_run, "slow", tmp_path), tmp_path) == 1
    out = capsys.readouterr().out
    assert "regression guard FAILED" in out
    assert "bucketing vs reference" in out and "REGRESSION" in out
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    slow_ratio = results["groups"]["bucketing"]["ratios"]["reference"]
    assert slow_ratio < 0.75 * baseline["groups"]["bucketing"]["ratios"]["reference"]


def test_peak_memory_is_measured_per_benchmark(probe_run: dict[str, Any]) -> None:
    by_path = {b["extra_info"]["path"]: b["extra_info"] for b in probe_run["benchmarks"]}
    info = by_path["memory"]
    growth_mb = (info["peak_rss_bytes"] - info["rss_start_bytes"]) / 2**20
    assert growth_mb >= 150, f"a 200 MB array showed {growth_mb:.0f} MB of growth"
    if info["memory_method"] == "vmhwm":  # per-test peaks: a small test shows no 200 MB
        small = by_path["bucketing-base"]
        assert (small["peak_rss_bytes"] - small["rss_start_bytes"]) / 2**20 < 100
