"""``citystream bench``: run the suites, write the results and the table, apply the guard.

The suites run in a child ``python -m pytest`` (the benchmarks need a clean process: JIT
caches, memory peaks, pytest-benchmark's session), which writes pytest-benchmark's JSON to
``<out>/latest.json``; this module then writes ``<out>/results.json`` and ``results.md``.
When a ratio falls below its floor, the groups concerned run once more in another child
pytest (``<out>/remeasure.json``) before the guard's verdict (see :func:`_guard`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.convention import SUITES
from bench.harness.guard import (
    BaselineError,
    GuardReport,
    check,
    render_guard,
    updated_baseline,
)
from bench.harness.knobs import smoke_env
from bench.harness.machine import machine_info
from bench.harness.results import (
    build_results,
    load_json,
    node_ids,
    with_remeasured,
    write_json,
)
from bench.harness.table import render_table, with_table

__all__ = [
    "BASELINE",
    "BENCH_DIR",
    "BUDGET_S",
    "README",
    "BenchOptions",
    "Remeasure",
    "RemeasureError",
    "analyse",
    "main",
    "pytest_command",
    "run_pytest",
    "smoke_env",  # for `citystream bench`, which sees only this module
]

BENCH_DIR = Path(__file__).resolve().parents[1]
ROOT = BENCH_DIR.parent
BASELINE = BENCH_DIR / "baseline.json"
README = ROOT / "README.md"
BUDGET_S = {False: 15 * 60, True: 2 * 60}  # smoke -> wall-time budget of the whole run

# pytest-benchmark options: full runs warm up and take at least 5 rounds (p50/p99 need
# rounds); smoke runs take one short round each. Benchmarks using pedantic() set their own.
_FULL = ("--benchmark-warmup=on", "--benchmark-min-rounds=5", "--benchmark-max-time=1.0")
_SMOKE = ("--benchmark-warmup=off", "--benchmark-min-rounds=1", "--benchmark-max-time=0.01")


@dataclass(frozen=True)
class BenchOptions:
    out_dir: Path
    smoke: bool = False
    suites: tuple[str, ...] | None = None  # None: all (with from_json: those in the JSON)
    update_baseline: bool = False
    tolerance: float | None = None
    baseline: Path = BASELINE
    from_json: Path | None = None  # analyse this pytest-benchmark JSON instead of running
    update_readme: Path | None = None  # put the table into this README (between markers)
    pytest_args: tuple[str, ...] = field(default=())


def pytest_command(
    paths: Sequence[str | Path], json_out: Path, *, smoke: bool, extra: Sequence[str] = ()
) -> list[str]:
    """The child pytest command line (the project's addopts minus ``--benchmark-skip``)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        *map(str, paths),
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
        "-o",
        "addopts=-ra --strict-markers",
        "-p",
        "no:cacheprovider",
        "--benchmark-only",
        f"--benchmark-json={json_out}",
        *(_SMOKE if smoke else _FULL),
        *extra,
    ]


def run_pytest(
    paths: Sequence[str | Path],
    json_out: Path,
    *,
    smoke: bool,
    env: dict[str, str],
    extra: Sequence[str] = (),
) -> int:
    """Run the benchmarks at ``paths`` (files or node ids); pytest's exit code.

    pytest-benchmark writes its JSON to ``json_out``.
    """
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.unlink(missing_ok=True)  # never analyse a previous run's JSON by mistake
    cmd = pytest_command(paths, json_out, smoke=smoke, extra=extra)
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


def _selected_files(suites: Sequence[str]) -> tuple[list[Path], list[str]]:
    """The benchmark files of ``suites`` that exist, and the suites that have some."""
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES)}")
    files: list[Path] = []
    present: list[str] = []
    for suite in suites:
        found = [BENCH_DIR / f for f in SUITES[suite] if (BENCH_DIR / f).is_file()]
        for name in SUITES[suite]:
            if not (BENCH_DIR / name).is_file():
                print(f"citystream bench: suite {suite}: bench/{name} does not exist yet, left out")
        if found:
            files.extend(found)
            present.append(suite)
    return files, present


# Re-runs the benchmarks with these pytest node ids; their pytest-benchmark JSON.
Remeasure = Callable[[Sequence[str]], dict[str, Any]]


class RemeasureError(RuntimeError):
    """The re-measurement produced no JSON to judge on."""


def _write(results: dict[str, Any], options: BenchOptions) -> None:
    """results.json, results.md (also printed) and, if asked, the README's table."""
    options.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(options.out_dir / "results.json", results)
    table = render_table(results)
    (options.out_dir / "results.md").write_text(table, encoding="utf-8")
    print(table)
    print(f"results: {options.out_dir / 'results.json'}, {options.out_dir / 'results.md'}")
    if options.update_readme is not None:
        if options.smoke:
            raise ValueError("a smoke run's table does not belong in the README")
        readme = options.update_readme
        readme.write_text(with_table(readme.read_text(encoding="utf-8"), table), encoding="utf-8")
        print(f"table written into {readme}")


def _guard(
    results: dict[str, Any],
    baseline: dict[str, Any],
    options: BenchOptions,
    suites: Sequence[str],
    remeasure: Remeasure | None,
) -> tuple[dict[str, Any], GuardReport]:
    """The guard's report; a group with a ratio below its floor is measured once more first.

    On a shared machine one disturbed round of a subject can sink a ratio; the same code
    measured again seldom is. Each ratio is then judged on the better of its two
    measurements (:func:`with_remeasured`): for a ratio that fell below its floor that is
    the same verdict as judging on the re-measurement alone (the first is already known to
    fail), and the group's other ratios, which passed once, cannot be failed by it. A real
    regression is below the floor in both runs and still fails.
    """
    report = check(results, baseline, suites=suites, tolerance=options.tolerance)
    paths = report.regressed_paths
    if not paths or remeasure is None:
        return results, report
    print(render_guard(report))
    print(f"regression guard: measuring {', '.join(paths)} once more before judging")
    try:
        raw = remeasure(node_ids(results, paths))
    except RemeasureError as exc:
        print(f"regression guard: {exc}; judged on the first measurement")
        return results, report
    second = build_results(
        raw, smoke=options.smoke, suites=suites, machine=results["machine"], elapsed_s=None
    )
    results = with_remeasured(results, second, paths)
    return results, check(results, baseline, suites=suites, tolerance=options.tolerance)


def analyse(
    raw: dict[str, Any],
    options: BenchOptions,
    suites: Sequence[str] | None,
    elapsed: float | None,
    remeasure: Remeasure | None = None,
) -> int:
    """Write results.json and results.md, print the table, apply or update the guard.

    ``suites``: those that ran (the guard expects their baseline groups); None: the suites
    of the groups found in ``raw``. ``remeasure``: how to run flagged groups again (None
    when re-analysing a JSON: nothing to re-run, the verdict is on the JSON alone).
    """
    results = build_results(
        raw, smoke=options.smoke, suites=suites or (), machine=machine_info(), elapsed_s=elapsed
    )
    if suites is None:
        suites = sorted({g["suite"] for g in results["groups"].values()})
        results["suites"] = suites
    previous = load_json(options.baseline) if options.baseline.is_file() else None
    report = None
    if previous is not None and not (options.update_baseline or options.smoke):
        results, report = _guard(results, previous, options, suites, remeasure)
    _write(results, options)
    if options.update_baseline:
        write_json(options.baseline, updated_baseline(results, previous, suites=suites))
        print(f"baseline updated: {options.baseline}")
        return 0
    if options.smoke:
        print("regression guard: not applied to a smoke run (tiny sizes)")
        return 0
    if report is None:
        print(f"regression guard: no baseline at {options.baseline}; run with --update-baseline")
        return 1
    print(render_guard(report))
    return 0 if report.passed else 1


def _remeasurer(options: BenchOptions, env: dict[str, str], codes: list[int]) -> Remeasure:
    """Runs the given node ids in a fresh child pytest, as the first run; exit codes to
    ``codes`` (a benchmark failing in the re-run fails the command like any other)."""

    def remeasure(ids: Sequence[str]) -> dict[str, Any]:
        json_out = options.out_dir / "remeasure.json"
        rc = run_pytest(ids, json_out, smoke=options.smoke, env=env, extra=options.pytest_args)
        codes.append(rc)
        if not json_out.is_file():
            raise RemeasureError(f"the re-measurement (pytest exit {rc}) wrote no {json_out}")
        return load_json(json_out)

    return remeasure


def main(options: BenchOptions, env: dict[str, str]) -> int:
    """Run (or re-analyse) the suites; 0 only if the benchmarks and the guard passed."""
    try:
        if options.from_json is not None:
            return analyse(load_json(options.from_json), options, options.suites, None)
        files, suites = _selected_files(options.suites or tuple(SUITES))
        if not files:
            print("citystream bench: no benchmark files to run", file=sys.stderr)
            return 2
        json_out = options.out_dir / "latest.json"
        start = time.monotonic()
        rc = run_pytest(files, json_out, smoke=options.smoke, env=env, extra=options.pytest_args)
        elapsed = time.monotonic() - start
        if not json_out.is_file():
            print(
                f"citystream bench: pytest exited {rc} without writing {json_out}", file=sys.stderr
            )
            return rc or 2
        codes = [rc]
        remeasure = _remeasurer(options, env, codes)
        status = analyse(load_json(json_out), options, suites, elapsed, remeasure)
    except (BaselineError, ValueError) as exc:
        print(f"citystream bench: {exc}", file=sys.stderr)
        return 2
    budget, total = BUDGET_S[options.smoke], time.monotonic() - start
    if total > budget:
        print(f"citystream bench: the run took {total:.0f} s, over its {budget} s budget")
    if max(codes) != 0:
        print(
            f"citystream bench: some benchmarks failed (pytest exit {max(codes)})", file=sys.stderr
        )
    return max(*codes, status)
