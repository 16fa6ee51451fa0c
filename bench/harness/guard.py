"""The regression guard: each subject ÷ peer ratio against the committed baseline.

Ratios, not times: the peer runs in the same process on the same machine in the same run,
so machine speed and load largely cancel out. A ratio fails when it falls below
``baseline × (1 − tolerance)``. The tolerance must stay below 0.5 so that a subject made
twice as slow (ratio halved) always fails; the default 0.4 fails a 2x slowdown with a
20 % margin for noise and lets noise up to a 1.67x apparent slowdown pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "BASELINE_SCHEMA",
    "DEFAULT_TOLERANCE",
    "Check",
    "GuardReport",
    "check",
    "render_guard",
    "updated_baseline",
    "validate_baseline",
    "validate_tolerance",
]

BASELINE_SCHEMA = "citystream-bench-baseline/1"
DEFAULT_TOLERANCE = 0.4


class BaselineError(ValueError):
    """The baseline file is malformed."""


def validate_tolerance(tolerance: float, where: str = "tolerance") -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise BaselineError(f"{where} must be a number, got {tolerance!r}")
    if not 0 < tolerance < 0.5:
        raise BaselineError(
            f"{where} must be in (0, 0.5) so that a 2x slowdown fails, got {tolerance}"
        )
    return float(tolerance)


def validate_baseline(baseline: Mapping[str, Any]) -> None:
    """Raise BaselineError unless ``baseline`` has the documented shape."""
    if baseline.get("schema") != BASELINE_SCHEMA:
        raise BaselineError(f"baseline schema must be {BASELINE_SCHEMA!r}")
    validate_tolerance(baseline.get("tolerance"), "baseline tolerance")  # type: ignore[arg-type]
    groups = baseline.get("groups")
    if not isinstance(groups, dict):
        raise BaselineError("baseline 'groups' must be an object")
    for path, group in groups.items():
        ratios = group.get("ratios") if isinstance(group, dict) else None
        if not isinstance(ratios, dict) or not ratios:
            raise BaselineError(f"baseline group {path!r} needs a non-empty 'ratios' object")
        for peer, ratio in ratios.items():
            if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio <= 0:
                raise BaselineError(f"baseline ratio {path}/{peer} must be > 0, got {ratio!r}")
        if "tolerance" in group:
            validate_tolerance(group["tolerance"], f"tolerance of group {path!r}")
        if not isinstance(group.get("suite"), str):
            raise BaselineError(f"baseline group {path!r} needs its 'suite'")


@dataclass(frozen=True)
class Check:
    path: str
    peer: str
    status: str  # ok | faster | regression | missing | new
    baseline: float | None
    current: float | None
    tolerance: float | None

    @property
    def floor(self) -> float | None:
        if self.baseline is None or self.tolerance is None:
            return None
        return self.baseline * (1 - self.tolerance)


@dataclass(frozen=True)
class GuardReport:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status in ("regression", "missing"))

    @property
    def passed(self) -> bool:
        return not self.failed


def _judge(path: str, peer: str, base: float, current: float | None, tol: float) -> Check:
    if current is None:
        return Check(path, peer, "missing", base, None, tol)
    if current < base * (1 - tol):
        status = "regression"
    elif current > base * (1 + tol):
        status = "faster"
    else:
        status = "ok"
    return Check(path, peer, status, base, current, tol)


def check(
    results: Mapping[str, Any],
    baseline: Mapping[str, Any],
    *,
    suites: Iterable[str],
    tolerance: float | None = None,
) -> GuardReport:
    """Compare every baseline ratio of the selected ``suites`` with the run's ratios.

    ``tolerance`` overrides the baseline's (its default and per-group values) when given.
    A ratio expected by the baseline that the run did not produce is a failure ("missing").
    """
    validate_baseline(baseline)
    if tolerance is not None:
        validate_tolerance(tolerance)
    selected = set(suites)
    run_groups = results["groups"]
    checks: list[Check] = []
    for path, group in sorted(baseline["groups"].items()):
        if group["suite"] not in selected:
            continue
        tol = tolerance if tolerance is not None else group.get("tolerance", baseline["tolerance"])
        ratios = run_groups.get(path, {}).get("ratios", {})
        for peer, base in sorted(group["ratios"].items()):
            checks.append(_judge(path, peer, float(base), ratios.get(peer), float(tol)))
    for path, group in sorted(run_groups.items()):
        known = baseline["groups"].get(path, {}).get("ratios", {})
        for peer, ratio in sorted(group["ratios"].items()):
            if peer not in known:
                checks.append(Check(path, peer, "new", None, ratio, None))
    return GuardReport(tuple(checks))


def render_guard(report: GuardReport) -> str:
    lines = []
    notes = {
        "ok": "ok",
        "faster": "faster than baseline (consider --update-baseline)",
        "regression": "REGRESSION",
        "missing": "MISSING: in the baseline but did not run",
        "new": "new: not in the baseline (not guarded)",
    }
    for c in report.checks:
        current = "-" if c.current is None else f"{c.current:,.2f}x"
        base = "-" if c.baseline is None else f"{c.baseline:,.2f}x"
        floor = "" if c.floor is None else f" (floor {c.floor:,.2f}x, tolerance {c.tolerance:.0%})"
        lines.append(
            f"  {c.path} vs {c.peer}: {current} / baseline {base}{floor}: {notes[c.status]}"
        )
    verdict = "PASSED" if report.passed else f"FAILED ({len(report.failed)} ratio(s))"
    return "regression guard " + verdict + "\n" + "\n".join(lines) + "\n"


def updated_baseline(
    results: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    *,
    suites: Iterable[str],
) -> dict[str, Any]:
    """A new baseline: the run's ratios for the selected suites, the rest kept as it was.

    Per-group tolerances and the default tolerance of ``previous`` are kept.
    """
    if results.get("smoke"):
        raise BaselineError("a smoke run cannot become the baseline: its sizes are tiny")
    if previous is not None:
        validate_baseline(previous)
    selected = set(suites)
    old_groups = dict(previous["groups"]) if previous else {}
    groups = {p: g for p, g in old_groups.items() if g["suite"] not in selected}
    for path, group in results["groups"].items():
        if not group["ratios"]:
            continue
        entry: dict[str, Any] = {
            "suite": group["suite"],
            "ratios": {k: round(v, 4) for k, v in sorted(group["ratios"].items())},
        }
        if "tolerance" in old_groups.get(path, {}):
            entry["tolerance"] = old_groups[path]["tolerance"]
        groups[path] = entry
    return {
        "schema": BASELINE_SCHEMA,
        "tolerance": previous["tolerance"] if previous else DEFAULT_TOLERANCE,
        "updated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": results["machine"],
        "groups": dict(sorted(groups.items())),
    }
