"""The ``citystream`` command line: one entry point for operators, developers and CI.

Each subcommand lives in its own module, which exposes ``add_arguments(parser)`` and
``run(settings, args) -> int``. This table is the single list of subcommands; the
docker-compose test checks every command the compose file runs against it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from streams.settings import SettingsError, load_settings

__all__ = ["COMMANDS", "add_simulation_arguments", "build_parser", "main"]

# subcommand -> (module implementing it, one-line help)
_DESCRIPTION = """\
citystream: the event pipeline of a city's digital management centre. Sensor alarms,
hotline calls and patrol reports become one case per real-world problem, dispatched to
its department with a deadline, followed to closure and stored in ClickHouse for the KPIs.
"""
_EPILOG = """\
getting started:
  citystream up                      start the local Kafka and ClickHouse
  citystream demo                    the typhoon-day demo, end to end
  citystream worker --roles all      a pipeline worker (one process per role in production)
  citystream kpi                     the weekly dispatch-meeting table, as text
  citystream report --meeting weekly --out weekly.html
                                     the weekly dispatch meeting's report (HTML)

Every setting is an environment variable CITYSTREAM_<NAME> (README.md lists them).
`citystream COMMAND --help` explains a command.
"""

COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("streams.cli.up", "install what is missing and start Kafka and ClickHouse"),
    "down": ("streams.cli.down", "stop the local Kafka and ClickHouse"),
    "status": ("streams.cli.status", "say what runs where"),
    "simulate": ("streams.cli.simulate", "generate a district feed with ground truth"),
    "replay": ("streams.cli.replay", "run the dedup core offline over raw files"),
    "worker": ("streams.cli.worker", "run a Faust worker (roles selectable)"),
    "demo": ("streams.cli.demo", "run the whole loop on the typhoon-day scenario"),
    "db": ("streams.cli.db", "ClickHouse schema: migrate / status / rollup (KPI rollups)"),
    "kpi": ("streams.cli.kpi", "print the weekly dispatch-meeting table and an HTML report"),
    "report": ("streams.cli.report", "write a meeting's report (weekly, half-monthly, monthly)"),
    "quality": ("streams.cli.quality", "dedup precision/recall against simulator truth"),
    "bench": ("streams.cli.bench", "benchmark suites beside their peers; regression guard"),
    "apikey": ("streams.cli.apikey", "make an API key and its keys-file entry (hash only)"),
    "settings": ("streams.cli.settings", "print the effective settings (secrets masked)"),
    "district": ("streams.cli.district", "onboard a district from its GIS files"),
    "import": ("streams.cli.imports", "backfill 311 exports through the raw topics"),
}


def add_simulation_arguments(parser: argparse.ArgumentParser, *, scale: float) -> None:
    """``--seed`` and ``--scale`` of the commands that run the simulator, alike in each."""
    parser.add_argument("--seed", type=int, default=1, help="same seed, same records (default 1)")
    parser.add_argument(
        "--scale",
        type=float,
        default=scale,
        help=f"incident volume factor, 1.0 = the scenario's full volume (default {scale})",
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("citystream")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _load(name: str) -> ModuleType:
    module_name, _ = COMMANDS[name]
    return importlib.import_module(module_name)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser. ``only`` limits module imports to one subcommand (faster start)."""
    parser = argparse.ArgumentParser(
        prog="citystream",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"citystream {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            _load(name).add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"citystream: bad settings: {exc}", file=sys.stderr)
        return 2
    result: int = _load(args.command).run(settings, args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
