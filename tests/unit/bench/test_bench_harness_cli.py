"""``citystream bench``: the command line reaches the harness with the right options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.harness import runner
from bench.harness.knobs import load_knobs
from streams.cli import COMMANDS, main


def _raw(subject_s: float) -> dict[str, Any]:
    def bench(name: str, role: str, events: int, t: float) -> dict[str, Any]:
        return {
            "fullname": f"bench/test_bench_kernels.py::{name}",
            "stats": {"min": t, "data": [t, t * 1.1, t * 1.2]},
            "extra_info": {"path": "bucketing", "role": role, "events": events},
        }

    return {
        "benchmarks": [
            bench("k", "subject", 10_000_000, subject_s),
            bench("h", "peer:h3", 200_000, 0.25),
        ]
    }


def test_bench_is_a_subcommand() -> None:
    assert COMMANDS["bench"][0] == "streams.cli.bench"


def test_cli_updates_then_guards_a_baseline(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast, slow, baseline = (isolated_env / n for n in ("fast.json", "slow.json", "base.json"))
    fast.write_text(json.dumps(_raw(0.05)))
    slow.write_text(json.dumps(_raw(0.10)))  # the kernel 2x slower
    common = ["bench", "--baseline", str(baseline)]
    assert main([*common, "--from-json", str(fast), "--update-baseline"]) == 0
    assert json.loads(baseline.read_text())["groups"]["bucketing"]["suite"] == "kernels"
    assert main([*common, "--from-json", str(fast)]) == 0
    assert main([*common, "--from-json", str(slow)]) == 1
    assert "bucketing vs h3" in capsys.readouterr().out
    results = isolated_env / "var" / "bench" / "results.json"  # <home>/bench by default
    assert json.loads(results.read_text())["groups"]["bucketing"]["ratios"]["h3"] == pytest.approx(
        (10_000_000 / 0.10) / (200_000 / 0.25)
    )
    assert (isolated_env / "var" / "bench" / "results.md").read_text().startswith("| path |")
    # a tolerance that would let a 2x slowdown pass is a usage error
    assert main([*common, "--from-json", str(fast), "--tolerance", "0.5"]) == 2


def test_cli_passes_smoke_suites_and_pytest_args(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_main(options: runner.BenchOptions, env: dict[str, str]) -> int:
        seen.update(options=options, env=env)
        return 0

    monkeypatch.setattr(runner, "main", fake_main)
    assert main(["bench", "--smoke", "--suites", "kernels,intake", "--", "-k", "dedup"]) == 0
    options = seen["options"]
    assert options.smoke and options.suites == ("kernels", "intake")
    assert options.pytest_args == ("-k", "dedup")
    assert options.baseline == runner.BASELINE
    assert load_knobs(seen["env"]).smoke


def test_unknown_suite_is_a_usage_error(isolated_env: Path) -> None:
    assert main(["bench", "--suites", "kernels,nope"]) == 2


def test_pytest_command_replaces_benchmark_skip(tmp_path: Path) -> None:
    full = runner.pytest_command([tmp_path / "t.py"], tmp_path / "o.json", smoke=False)
    smoke = runner.pytest_command([tmp_path / "t.py"], tmp_path / "o.json", smoke=True)
    assert "--benchmark-only" in full and "addopts=-ra --strict-markers" in full
    assert "--benchmark-min-rounds=5" in full and "--benchmark-min-rounds=1" in smoke
    assert f"--benchmark-json={tmp_path / 'o.json'}" in full


def test_cli_help_names_exactly_the_harness_suites() -> None:
    from bench.harness import SUITES
    from streams.cli import bench as bench_command

    listed = bench_command._SUITES_HELP.split(":", 1)[1].split("(")[0]
    assert [s.strip() for s in listed.split(",")] == list(SUITES)
