"""``citystream bench``: the benchmark suites, their table and the regression guard.

The harness lives in ``bench/`` of a source checkout (it is not installed with the
package); this module parses the command line and hands over to
``bench.harness.runner``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from streams.settings import PROJECT_ROOT, Settings

__all__ = ["add_arguments", "load_harness", "run"]

# one source of truth for suite names is bench.harness.convention.SUITES; the CLI help
# names them without importing the harness (argparse validates in the runner)
_SUITES_HELP = "comma-separated suites: kernels, intake, sinks, e2e, api (default: all)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no guard (CI)")
    parser.add_argument("--suites", default="", help=_SUITES_HELP)
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="write bench/baseline.json from this run instead of checking against it",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="allowed relative drop of every ratio, in (0, 0.5), for this run; default: the"
        " baseline's own (per ratio, per path, or its default 0.4)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="analyse this pytest-benchmark JSON (e.g. var/bench/latest.json) without running",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="baseline file to check against or update (default: bench/baseline.json)",
    )
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="also put the table into README.md (between its bench-table markers)",
    )
    parser.add_argument(
        "--out-dir", type=Path, default=None, help="where results go (default: <home>/bench)"
    )
    parser.add_argument(
        "pytest_args", nargs="*", help="extra pytest arguments after --, e.g. -- -k dedup"
    )


def load_harness() -> ModuleType:
    """Import ``bench.harness.runner`` from the source checkout this package runs from."""
    runner = PROJECT_ROOT / "bench" / "harness" / "runner.py"
    if not runner.is_file():
        raise FileNotFoundError(
            f"{runner} not found: `citystream bench` runs from a source checkout only"
        )
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))  # bench/ is a source-tree package
    return importlib.import_module("bench.harness.runner")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        harness = load_harness()
    except FileNotFoundError as exc:
        print(f"citystream bench: {exc}", file=sys.stderr)
        return 2
    suites = tuple(s.strip() for s in args.suites.split(",") if s.strip())
    options = harness.BenchOptions(
        out_dir=args.out_dir or settings.home / "bench",
        smoke=args.smoke,
        update_baseline=args.update_baseline,
        tolerance=args.tolerance,
        from_json=args.from_json,
        pytest_args=tuple(args.pytest_args),
        baseline=args.baseline or harness.BASELINE,
        update_readme=harness.README if args.update_readme else None,
        suites=suites or None,
    )
    # the child pytest reads the same settings, and the harness's smoke switch
    env = {**os.environ, **settings.as_env(), **harness.smoke_env(args.smoke)}
    result: int = harness.main(options, env)
    return result
