"""``citystream down``: stop the local Kafka and ClickHouse (data stays in ``var/``)."""

from __future__ import annotations

import argparse
import sys

from deploy.local.process import DeployError
from deploy.local.services import SERVICES, stop_all
from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options: down always stops everything


def run(settings: Settings, args: argparse.Namespace) -> int:
    del args
    try:
        stopped = stop_all(settings)
    except DeployError as exc:
        print(f"citystream down: {exc}", file=sys.stderr)
        return 1
    for name in SERVICES:
        print(f"{name:<11} {'stopped' if name in stopped else 'was not running'}")
    return 0
