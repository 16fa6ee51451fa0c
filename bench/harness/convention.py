"""How a benchmark declares what it measures, and the list of suites.

A declaration lives in pytest-benchmark's own record of the benchmark: ``group`` is the hot
path and ``extra_info`` carries ``path``, ``role`` and ``events``, so the JSON that
``--benchmark-json`` writes is all the report needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SUBJECT",
    "SUITES",
    "BenchScale",
    "Declaration",
    "declaration",
    "peer",
    "record",
    "suite_of",
]

SUBJECT = "subject"
PEER_PREFIX = "peer:"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

# suite -> benchmark files (relative to bench/); the one list `citystream bench` selects from
SUITES: dict[str, tuple[str, ...]] = {
    "kernels": ("test_bench_kernels.py", "test_bench_peers.py", "test_bench_streets.py"),
    "intake": ("test_bench_intake.py", "test_bench_import.py"),
    "sinks": ("test_bench_sinks.py",),
    "e2e": ("test_bench_e2e.py", "test_bench_latency.py"),
    "api": ("test_bench_api.py",),
}


def peer(name: str) -> str:
    """The role of a peer called ``name`` (``"ckdtree"`` -> ``"peer:ckdtree"``)."""
    _check_name("peer name", name)
    return PEER_PREFIX + name


def _check_name(what: str, value: object) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{what} must be lower-case letters, digits, '_', '.' or '-', got {value!r}"
        )


@dataclass(frozen=True)
class Declaration:
    path: str  # the hot path, e.g. "dedup"; also the pytest-benchmark group
    role: str  # "subject" or "peer:<name>"
    events: int  # events (records, rows, points) one round handles

    def __post_init__(self) -> None:
        _check_name("path", self.path)
        if self.role != SUBJECT:
            if not isinstance(self.role, str) or not self.role.startswith(PEER_PREFIX):
                raise ValueError(f"role must be {SUBJECT!r} or 'peer:<name>', got {self.role!r}")
            _check_name("peer name", self.role[len(PEER_PREFIX) :])
        if isinstance(self.events, bool) or not isinstance(self.events, int) or self.events < 1:
            raise ValueError(f"events must be a positive int, got {self.events!r}")

    @property
    def peer_name(self) -> str | None:
        """The peer's name, or None for the subject."""
        return None if self.role == SUBJECT else self.role[len(PEER_PREFIX) :]


def record(benchmark: Any, *, path: str, role: str, events: int) -> Declaration:
    """Declare what ``benchmark`` measures; call it before running the benchmark.

    Sets the pytest-benchmark group to ``path`` (so its own table groups peers together)
    and stores the declaration in ``benchmark.extra_info``.
    """
    decl = Declaration(path, role, int(events) if not isinstance(events, bool) else events)
    benchmark.group = path
    benchmark.extra_info.update(path=decl.path, role=decl.role, events=decl.events)
    return decl


def declaration(extra_info: Mapping[str, Any]) -> Declaration | None:
    """The declaration stored by :func:`record`, or None when the benchmark made none.

    A partial declaration (some of path, role, events) is an error, not "undeclared".
    """
    keys = ("path", "role", "events")
    present = [k for k in keys if k in extra_info]
    if not present:
        return None
    if len(present) != len(keys):
        missing = sorted(set(keys) - set(present))
        raise ValueError(f"incomplete benchmark declaration: missing {', '.join(missing)}")
    return Declaration(extra_info["path"], extra_info["role"], extra_info["events"])


def suite_of(file_name: str) -> str | None:
    """The suite a benchmark file (base name) belongs to, or None."""
    for suite, files in SUITES.items():
        if file_name in files:
            return suite
    return None


@dataclass(frozen=True)
class BenchScale:
    """Problem sizes: full, or tiny in smoke mode (``CITYSTREAM_BENCH_SMOKE``, knobs.py).

    ``bench_scale.pick(10_000_000, smoke=20_000)`` in a benchmark or fixture.
    """

    smoke: bool

    def pick(self, full: int, *, smoke: int) -> int:
        if smoke > full:
            raise ValueError(f"smoke size {smoke} exceeds the full size {full}")
        return smoke if self.smoke else full
