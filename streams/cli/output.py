"""How commands talk: results on stdout (``--json``: one JSON document, nothing else), and
everything said along the way (progress, where files went, warnings) on stderr, so
``citystream status --json | jq`` and ``citystream replay ... | jq`` work."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import orjson

__all__ = ["add_json_flag", "counted", "emit_json", "say"]

T = TypeVar("T")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON document on stdout"
    )


def emit_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (dates and datetimes in ISO 8601)."""
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
    sys.stdout.write(text.decode() + "\n")


def say(command: str, message: str) -> None:
    """A line for the human on stderr, prefixed with the command."""
    print(f"citystream {command}: {message}", file=sys.stderr, flush=True)


def counted(items: Iterable[T], command: str, what: str, every_s: float = 5.0) -> Iterator[T]:
    """``items`` unchanged, with a progress line on stderr every ``every_s`` seconds and a
    total at the end."""
    n = 0
    last = time.monotonic()
    for item in items:
        n += 1
        now = time.monotonic()
        if now - last >= every_s:
            say(command, f"{n:,} {what} so far")
            last = now
        yield item
    say(command, f"{n:,} {what}")
