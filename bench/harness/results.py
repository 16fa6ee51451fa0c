"""From pytest-benchmark's JSON to citystream's results: events/s, ratios, latency, memory.

Definitions (also in docs/benchmarks.md):

* **events/s** = declared events per round / the fastest round. The fastest round is the
  one least disturbed by other work on a shared machine, so ratios built on it are the
  steadiest; p50 and p99 show the spread.
* **ratio** (per peer) = subject events/s / peer events/s: how many times faster the
  project's code is than the peer on the same hot path, in the same run. Above 1 = faster.
* **p50 / p99** = percentiles (linear interpolation) of the per-round times. With the few
  rounds of the slow benchmarks p99 is close to the slowest round.
* **peak memory** = peak RSS of the process during the test body, and its growth over the
  RSS at the start (see :mod:`bench.harness.plugin` for how it is measured).
* **figures** = the other numbers a benchmark put in its ``extra_info`` (e.g. the
  end-to-end latency percentiles), which goals may refer to.
* **goals** = :data:`bench.harness.goals.GOALS` judged on this run: met / not met.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from bench.harness.convention import SUBJECT, declaration, suite_of
from bench.harness.goals import evaluate_goals

__all__ = [
    "SCHEMA",
    "UNLISTED_SUITE",
    "build_results",
    "load_json",
    "node_ids",
    "percentile",
    "with_remeasured",
    "write_json",
]

SCHEMA = "citystream-bench-results/2"  # /2: figures, goals, remeasured
UNLISTED_SUITE = "unlisted"  # the suite of a benchmark file not in SUITES (harness tests)
_MB = 2**20
# extra_info keys the harness itself writes (declaration, memory probe): not figures
_HARNESS_KEYS = frozenset(
    {"path", "role", "events", "peak_rss_bytes", "rss_start_bytes", "memory_method"}
)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _member(bench: Mapping[str, Any], events: int) -> dict[str, Any]:
    stats = bench["stats"]
    data = stats.get("data")
    if not data:
        raise ValueError(
            f"{bench['fullname']}: no per-round data in the JSON (written by --benchmark-json)"
        )
    info = bench.get("extra_info", {})
    member: dict[str, Any] = {
        "test": bench["fullname"],
        "events": events,
        "rounds": len(data),
        "min_s": stats["min"],
        "p50_s": percentile(data, 50),
        "p99_s": percentile(data, 99),
        "events_per_s": events / stats["min"],
    }
    if "peak_rss_bytes" in info:
        member["peak_rss_mb"] = round(info["peak_rss_bytes"] / _MB, 1)
        member["rss_growth_mb"] = round((info["peak_rss_bytes"] - info["rss_start_bytes"]) / _MB, 1)
        member["memory_method"] = info["memory_method"]
    figures = {
        k: v
        for k, v in sorted(info.items())
        if k not in _HARNESS_KEYS and isinstance(v, int | float) and not isinstance(v, bool)
    }
    if figures:
        member["figures"] = figures
    return member


def _suite(fullname: str) -> str:
    return suite_of(PurePosixPath(fullname.split("::", 1)[0]).name) or UNLISTED_SUITE


def build_results(
    raw: Mapping[str, Any],
    *,
    smoke: bool,
    suites: Sequence[str],
    machine: Mapping[str, Any],
    elapsed_s: float | None = None,
) -> dict[str, Any]:
    """citystream's results from the dict pytest-benchmark wrote with ``--benchmark-json``."""
    groups: dict[str, dict[str, Any]] = {}
    undeclared: list[str] = []
    for bench in raw.get("benchmarks", []):
        try:
            decl = declaration(bench.get("extra_info", {}))
        except ValueError as exc:
            raise ValueError(f"{bench['fullname']}: {exc}") from exc
        if decl is None:
            undeclared.append(bench["fullname"])
            continue
        group = groups.setdefault(
            decl.path, {"suite": None, "subject": None, "peers": {}, "ratios": {}}
        )
        member = _member(bench, decl.events)
        if decl.role == SUBJECT:
            if group["subject"] is not None:
                raise ValueError(
                    f"group {decl.path!r} has two subjects: {group['subject']['test']}"
                    f" and {member['test']}"
                )
            group["subject"] = member
            group["suite"] = _suite(member["test"])
        else:
            name = decl.peer_name
            if name in group["peers"]:
                raise ValueError(f"group {decl.path!r} has two peers named {name!r}")
            group["peers"][name] = member
            group["suite"] = group["suite"] or _suite(member["test"])
    for group in groups.values():
        subject = group["subject"]
        if subject is not None:
            group["ratios"] = {
                name: subject["events_per_s"] / p["events_per_s"]
                for name, p in sorted(group["peers"].items())
            }
    return {
        "schema": SCHEMA,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": smoke,
        "suites": list(suites),
        "elapsed_s": elapsed_s,
        "machine": dict(machine),
        "groups": dict(sorted(groups.items())),
        "goals": evaluate_goals(groups, smoke=smoke),
        "undeclared": undeclared,
    }


def node_ids(results: Mapping[str, Any], paths: Sequence[str]) -> list[str]:
    """The pytest node ids of the subjects and peers of ``paths``: what re-measures them."""
    ids: list[str] = []
    for path in paths:
        group = results["groups"][path]
        members = [group["subject"], *group["peers"].values()]
        ids.extend(m["test"] for m in members if m is not None)
    return ids


def with_remeasured(
    first: Mapping[str, Any], second: Mapping[str, Any], paths: Sequence[str]
) -> dict[str, Any]:
    """``first`` with the groups ``paths`` judged on the better ratio, per peer, of two runs.

    Each ratio is taken whole from one run: subject and peer timed in the same process at
    the same moment is what lets load cancel out, so the two runs' members are never mixed.
    A peer the re-measurement did not produce keeps its first ratio (``second`` says None).
    Both runs' ratios stay in ``remeasured``; goals are judged again on the result.
    """
    merged = copy.deepcopy(dict(first))
    for path in paths:
        group = merged["groups"][path]
        again = second["groups"].get(path, {}).get("ratios", {})
        group["remeasured"] = {
            "first": dict(group["ratios"]),
            "second": {peer: again.get(peer) for peer in group["ratios"]},
        }
        group["ratios"] = {
            peer: max(ratio, again[peer]) if peer in again else ratio
            for peer, ratio in group["ratios"].items()
        }
    merged["goals"] = evaluate_goals(merged["groups"], smoke=bool(merged["smoke"]))
    return merged


def load_json(path: Any) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def write_json(path: Any, data: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False)
        fh.write("\n")
