"""``citystream status``: each local service, pid, address and health (exit 1 if one is down)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from deploy.local.services import ServiceStatus, service_status
from streams.cli.output import add_json_flag, emit_json
from streams.settings import Settings

__all__ = ["add_arguments", "print_table", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)


def _state(s: ServiceStatus) -> str:
    return "healthy" if s.healthy else ("starting" if s.pid is not None else "down")


def print_table(statuses: Sequence[ServiceStatus]) -> None:
    print(f"{'service':<11} {'pid':>8}  {'state':<9} address")
    for s in statuses:
        pid = str(s.pid) if s.pid is not None else "-"
        print(f"{s.name:<11} {pid:>8}  {_state(s):<9} {s.address}")


def run(settings: Settings, args: argparse.Namespace) -> int:
    statuses = service_status(settings)
    if args.json:
        emit_json(
            [
                {"service": s.name, "pid": s.pid, "state": _state(s), "address": s.address}
                for s in statuses
            ]
        )
    else:
        print_table(statuses)
    return 0 if all(s.healthy for s in statuses) else 1
