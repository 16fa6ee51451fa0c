"""``citystream up``: install what is missing, start Kafka and ClickHouse, wait until healthy."""

from __future__ import annotations

import argparse
import sys

from deploy.local.process import DeployError
from deploy.local.services import ensure_up
from streams.cli.status import print_table
from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when all is well")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        statuses = ensure_up(settings)
    except DeployError as exc:
        print(f"citystream up: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print_table(statuses)
    return 0
