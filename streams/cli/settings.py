"""``citystream settings``: every setting as it is in effect here, secrets masked.

Read from the settings file (``CITYSTREAM_SETTINGS_FILE``), the environment and the
defaults, in that order of precedence, as every other command reads them.
"""

from __future__ import annotations

import argparse

from streams.cli.output import add_json_flag, emit_json
from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)
    parser.add_argument(
        "--changed", action="store_true", help="only the settings that differ from the default"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    rows = [r for r in settings.effective() if r.changed or not args.changed]
    if args.json:
        emit_json(
            [{"variable": r.variable, "value": r.shown, "default": not r.changed} for r in rows]
        )
        return 0
    width = max((len(r.variable) for r in rows), default=0)
    for r in rows:
        mark = "" if r.changed else "  (default)"
        print(f"{r.variable:<{width}}  {r.shown}{mark}")
    return 0
