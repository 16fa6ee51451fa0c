"""Goals from the issues: declared once, reported met / not met, never the run's verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.harness import runner
from bench.harness.goals import GOALS, MET, NOT_JUDGED, NOT_MET, NOT_RUN, Goal, evaluate_goals
from bench.harness.guard import updated_baseline
from bench.harness.results import build_results
from bench.harness.table import render_table

MACHINE = {"cpu": "test cpu", "cores": 2}
BENCH = Path(runner.BENCH_DIR)


def _raw(kernel_s: float, p99_ms: float | None = None) -> dict[str, Any]:
    """bucketing at 10 M / kernel_s events/s beside h3 at 1 M ev/s; e2e-latency's p99."""

    def member(name: str, path: str, role: str, events: int, s: float) -> dict[str, Any]:
        return {
            "fullname": f"bench/test_bench_kernels.py::{name}",
            "stats": {"min": s, "data": [s, s]},
            "extra_info": {"path": path, "role": role, "events": events},
        }

    benches = [
        member("k", "bucketing", "subject", 10_000_000, kernel_s),
        member("h", "bucketing", "peer:h3", 200_000, 0.2),
    ]
    if p99_ms is not None:
        latency = member("l", "e2e-latency", "subject", 250_000, 30.0)
        latency["extra_info"].update(latency_p99_ms=p99_ms, memory_method="vmhwm")
        benches.append(latency)
    return {"benchmarks": benches}


def _goals(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["goal"]: g for g in results["goals"]}


def test_goals_are_judged_met_not_met_or_not_run() -> None:
    # 10 M events in 0.125 s = 80 M ev/s (goal 100 M), 80x h3 (goal 100x)
    slow = build_results(_raw(0.125, p99_ms=540), smoke=False, suites=[], machine=MACHINE)
    goals = _goals(slow)
    assert goals["bucketing >= 100 M ev/s"]["status"] == NOT_MET
    assert goals["bucketing >= 100 M ev/s"]["measured"] == pytest.approx(80e6)
    assert goals["bucketing >= 100x h3"]["status"] == NOT_MET
    assert goals["e2e-latency latency_p99_ms < 300"]["status"] == NOT_MET  # a figure goal
    assert goals["dedup-typhoon >= 10 M ev/s"]["status"] == NOT_RUN
    fast = build_results(_raw(0.02, p99_ms=250), smoke=False, suites=[], machine=MACHINE)
    assert _goals(fast)["bucketing >= 100x h3"]["status"] == MET
    assert _goals(fast)["e2e-latency latency_p99_ms < 300"]["status"] == MET
    smoke = build_results(_raw(0.125), smoke=True, suites=[], machine=MACHINE)
    assert _goals(smoke)["bucketing >= 100 M ev/s"]["status"] == NOT_JUDGED


def test_the_table_has_a_goals_section() -> None:
    table = render_table(build_results(_raw(0.125), smoke=False, suites=[], machine=MACHINE))
    section = table.split("Goals (bench/harness/goals.py; reported, not asserted):", 1)[1]
    assert "| bucketing >= 100 M ev/s | 80.00 M ev/s | not met |" in section
    assert "| bucketing >= 100x h3 | 80.0x | not met |" in section
    assert "Not run here: " in section and "dedup-typhoon >= 10 M ev/s" in section


def test_goals_not_met_do_not_fail_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The verdict is the guard's: a run at the baseline's ratios passes, goals or not."""
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps(_raw(0.125)))
    res = build_results(_raw(0.125), smoke=False, suites=["kernels"], machine=MACHINE)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(updated_baseline(res, None, suites=["kernels"])))
    options = runner.BenchOptions(out_dir=tmp_path / "out", baseline=baseline, from_json=raw)
    assert runner.main(options, env={}) == 0
    assert "| bucketing >= 100 M ev/s | 80.00 M ev/s | not met |" in capsys.readouterr().out
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert _goals(written)["bucketing >= 100 M ev/s"]["status"] == NOT_MET


def test_no_benchmark_asserts_a_goal() -> None:
    """Goals live in bench/harness/goals.py only; the benchmarks record figures."""
    for path in BENCH.glob("test_bench_*.py"):
        text = path.read_text(encoding="utf-8")
        assert "def test_ratios_and_goals" not in text, path
        assert not re.search(r"assert [^\n]*(>=|<=|<|>) *\d+(\.\d+)?e\d", text), path
        assert not re.search(r"_GOAL\w*\s*=", text), f"{path}: a goal outside goals.py"


def test_every_goal_names_a_benchmark_that_exists() -> None:
    baseline = json.loads((BENCH / "baseline.json").read_text())
    sources = "\n".join(p.read_text(encoding="utf-8") for p in BENCH.glob("test_bench_*.py"))
    from bench.kpi_queries import KPI_QUERIES

    for goal in GOALS:
        if goal.path.startswith("kpi-chdb-"):  # the same queries in chdb
            assert 'path=f"kpi-chdb-{name}"' in sources
            assert goal.path[len("kpi-chdb-") :] in KPI_QUERIES, goal.label
        elif goal.path.startswith("kpi-"):  # one parametrized benchmark per KPI query
            assert 'path=f"kpi-{name}"' in sources
            assert goal.path[len("kpi-") :] in KPI_QUERIES, goal.label
        else:
            assert f'path="{goal.path}"' in sources, goal.label
        if goal.measure.startswith("ratio:"):
            assert goal.measure[len("ratio:") :] in baseline["groups"][goal.path]["ratios"]
        if goal.measure.startswith("figure:"):
            assert goal.measure[len("figure:") :] in sources, goal.label


def test_the_kpi_bench_times_exactly_the_paths_the_goals_judge() -> None:
    from bench.kpi_paths import KPI_NAMES
    from bench.kpi_queries import KPI_QUERIES

    assert tuple(KPI_QUERIES) == KPI_NAMES


def test_goal_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="op"):
        Goal("bucketing", "events/s", "<=", 1)
    with pytest.raises(ValueError, match="measure"):
        Goal("bucketing", "speed", ">=", 1)
    assert (
        evaluate_goals({}, smoke=False, goals=(Goal("x", "events/s", ">=", 1),))[0]["status"]
        == NOT_RUN
    )
