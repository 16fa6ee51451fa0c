"""The regression guard: each subject ÷ peer ratio against the committed baseline.

Ratios, not times: the peer runs in the same process on the same machine in the same run,
so machine speed and load largely cancel out. A ratio fails when it falls below
``baseline × (1 − tolerance)``. Every tolerance must stay below 0.5 so that a subject made
twice as slow (ratio halved) always fails; the default 0.4 fails a 2x slowdown with a
20 % margin for noise and lets noise up to a 1.67x apparent slowdown pass.

Baseline schema ``citystream-bench-baseline/2`` (``/1`` is still read: a ratio is a plain
number there) lets each ratio be an object instead of a number:

* ``ratio``: the baseline value the run is judged against;
* ``tolerance``: this ratio's own, from its measured spread (docs/benchmarks.md);
* ``seen``: CPU model -> ratio measured there. The ratio is then the *lowest seen*, a
  conservative baseline for a ratio whose spread across CPUs is wider than any tolerance
  below 0.5 could absorb (bucketing vs h3: 441x on an AMD EPYC, 263x on an Intel Xeon);
* ``informational``: why the ratio is reported but never fails the guard;
* ``why``: free text, the evidence behind the tolerance.

The tolerance of a ratio is, first found: ``--tolerance``, the ratio's, its group's, the
file's default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "BASELINE_SCHEMA",
    "DEFAULT_TOLERANCE",
    "READABLE_SCHEMAS",
    "BaselineError",
    "Check",
    "GuardReport",
    "RatioSpec",
    "check",
    "ratio_spec",
    "render_guard",
    "updated_baseline",
    "validate_baseline",
    "validate_tolerance",
]

BASELINE_SCHEMA = "citystream-bench-baseline/2"
SCHEMA_V1 = "citystream-bench-baseline/1"  # ratios as plain numbers only
READABLE_SCHEMAS = (SCHEMA_V1, BASELINE_SCHEMA)
DEFAULT_TOLERANCE = 0.4
_RATIO_KEYS = frozenset({"ratio", "tolerance", "seen", "informational", "why"})


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


def _positive(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise BaselineError(f"{where} must be > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class RatioSpec:
    """One baseline ratio: the value judged against and how."""

    ratio: float
    tolerance: float | None = None  # None: the group's or the file's
    seen: Mapping[str, float] | None = None  # CPU -> ratio; ratio is then the lowest
    informational: str | None = None  # the reason it never fails
    why: str | None = None

    def as_json(self) -> float | dict[str, Any]:
        """A plain number when nothing but the ratio is set (as schema /1 wrote it)."""
        settings = (self.tolerance, self.seen, self.informational, self.why)
        if all(value is None for value in settings):
            return round(self.ratio, 4)
        entry: dict[str, Any] = {"ratio": round(self.ratio, 4)}
        for key in ("tolerance", "informational", "why"):
            if getattr(self, key) is not None:
                entry[key] = getattr(self, key)
        if self.seen is not None:
            entry["seen"] = {cpu: round(r, 4) for cpu, r in sorted(self.seen.items())}
        return entry


def ratio_spec(entry: object, where: str) -> RatioSpec:
    """Parse and validate a baseline ratio entry (a number or an object)."""
    if not isinstance(entry, dict):
        return RatioSpec(_positive(entry, f"baseline ratio {where}"))
    unknown = sorted(set(entry) - _RATIO_KEYS)
    if unknown:
        raise BaselineError(f"baseline ratio {where}: unknown key(s) {', '.join(unknown)}")
    ratio = _positive(entry.get("ratio"), f"baseline ratio {where}")
    tol = entry.get("tolerance")
    seen = entry.get("seen")
    if seen is not None:
        if not isinstance(seen, dict) or not seen:
            raise BaselineError(f"baseline ratio {where}: 'seen' must map CPU -> ratio")
        seen = {str(cpu): _positive(r, f"{where} seen on {cpu}") for cpu, r in seen.items()}
        if abs(ratio - min(seen.values())) > 1e-3:  # a hand edit of one side only
            raise BaselineError(
                f"baseline ratio {where}: 'ratio' {ratio} must be the lowest seen,"
                f" {min(seen.values())}"
            )
    for key in ("informational", "why"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
            raise BaselineError(f"baseline ratio {where}: '{key}' must be a non-empty text")
    return RatioSpec(
        ratio=ratio,
        tolerance=None if tol is None else validate_tolerance(tol, f"tolerance of {where}"),
        seen=seen,
        informational=entry.get("informational"),
        why=entry.get("why"),
    )


def validate_baseline(baseline: Mapping[str, Any]) -> None:
    """Raise BaselineError unless ``baseline`` has the documented shape (schema /1 or /2)."""
    schema = baseline.get("schema")
    if schema not in READABLE_SCHEMAS:
        raise BaselineError(f"baseline schema must be one of {', '.join(READABLE_SCHEMAS)}")
    validate_tolerance(baseline.get("tolerance"), "baseline tolerance")  # type: ignore[arg-type]
    groups = baseline.get("groups")
    if not isinstance(groups, dict):
        raise BaselineError("baseline 'groups' must be an object")
    for path, group in groups.items():
        ratios = group.get("ratios") if isinstance(group, dict) else None
        if not isinstance(ratios, dict) or not ratios:
            raise BaselineError(f"baseline group {path!r} needs a non-empty 'ratios' object")
        for peer, entry in ratios.items():
            if schema == SCHEMA_V1 and isinstance(entry, dict):
                raise BaselineError(f"{path}/{peer}: ratio objects need {BASELINE_SCHEMA!r}")
            ratio_spec(entry, f"{path}/{peer}")
        if "tolerance" in group:
            validate_tolerance(group["tolerance"], f"tolerance of group {path!r}")
        if not isinstance(group.get("suite"), str):
            raise BaselineError(f"baseline group {path!r} needs its 'suite'")


@dataclass(frozen=True)
class Check:
    path: str
    peer: str
    status: str  # ok | faster | regression | missing | new | info
    baseline: float | None
    current: float | None
    tolerance: float | None
    basis: str = ""  # how the baseline value was taken, when not from one accepted run
    reason: str | None = None  # why an informational ratio does not fail

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
    def regressed_paths(self) -> tuple[str, ...]:
        """The groups with a ratio below its floor (not "missing": those did not run)."""
        return tuple(sorted({c.path for c in self.checks if c.status == "regression"}))

    @property
    def passed(self) -> bool:
        return not self.failed


def _judge(
    path: str, peer: str, spec: RatioSpec, current: float | None, tol: float, cpu: str
) -> Check:
    basis = "" if spec.seen is None else f"lowest of {len(spec.seen)} CPU(s) seen"
    if spec.informational is not None:
        return Check(path, peer, "info", spec.ratio, current, tol, basis, spec.informational)
    # "faster" invites an update: against this CPU's own figure where known, since a fast
    # CPU is always well above the lowest seen
    usual = spec.seen.get(cpu, spec.ratio) if spec.seen is not None else spec.ratio
    if current is None:
        status = "missing"
    elif current < spec.ratio * (1 - tol):
        status = "regression"
    elif current > usual * (1 + tol):
        status = "faster"
    else:
        status = "ok"
    return Check(path, peer, status, spec.ratio, current, tol, basis)


def _tolerance(
    override: float | None, spec: RatioSpec, group: Mapping[str, Any], default: float
) -> float:
    """The first found of: the run's override, the ratio's, the group's, the file's."""
    for tol in (override, spec.tolerance, group.get("tolerance")):
        if tol is not None:
            return float(tol)
    return default


def check(
    results: Mapping[str, Any],
    baseline: Mapping[str, Any],
    *,
    suites: Iterable[str],
    tolerance: float | None = None,
) -> GuardReport:
    """Compare every baseline ratio of the selected ``suites`` with the run's ratios.

    ``tolerance`` overrides the baseline's (default, per-group and per-ratio) when given.
    A ratio expected by the baseline that the run did not produce is a failure ("missing").
    """
    validate_baseline(baseline)
    if tolerance is not None:
        validate_tolerance(tolerance)
    selected = set(suites)
    run_groups = results["groups"]
    cpu = str(results["machine"]["cpu"])
    checks: list[Check] = []
    for path, group in sorted(baseline["groups"].items()):
        if group["suite"] not in selected:
            continue
        ratios = run_groups.get(path, {}).get("ratios", {})
        for peer, entry in sorted(group["ratios"].items()):
            spec = ratio_spec(entry, f"{path}/{peer}")
            tol = _tolerance(tolerance, spec, group, float(baseline["tolerance"]))
            checks.append(_judge(path, peer, spec, ratios.get(peer), tol, cpu))
    for path, group in sorted(run_groups.items()):
        known = baseline["groups"].get(path, {}).get("ratios", {})
        for peer, ratio in sorted(group["ratios"].items()):
            if peer not in known:
                checks.append(Check(path, peer, "new", None, ratio, None))
    return GuardReport(tuple(checks))


_NOTES = {
    "ok": "ok",
    "faster": "faster than baseline (consider --update-baseline)",
    "regression": "REGRESSION",
    "missing": "MISSING: in the baseline but did not run",
    "new": "new: not in the baseline (not guarded)",
    "info": "informational, not guarded",
}


def render_guard(report: GuardReport) -> str:
    lines = []
    for c in report.checks:
        current = "-" if c.current is None else f"{c.current:,.2f}x"
        base = "-" if c.baseline is None else f"{c.baseline:,.2f}x"
        if c.basis:
            base += f" ({c.basis})"
        floor = "" if c.floor is None else f" (floor {c.floor:,.2f}x, tolerance {c.tolerance:.0%})"
        note = _NOTES[c.status] + (f": {c.reason}" if c.reason else "")
        lines.append(f"  {c.path} vs {c.peer}: {current} / baseline {base}{floor}: {note}")
    verdict = "PASSED" if report.passed else f"FAILED ({len(report.failed)} ratio(s))"
    return "regression guard " + verdict + "\n" + "\n".join(lines) + "\n"


def _updated_ratio(old: object, current: float, cpu: str, where: str) -> float | dict[str, Any]:
    """The run's ratio in place of ``old``, keeping its tolerance and notes.

    A ratio with ``seen`` records the run under its CPU and stays the lowest seen, so
    accepting a run on a fast machine does not lift the baseline a slower machine needs.
    """
    if old is None:
        return round(current, 4)
    spec = ratio_spec(old, where)
    if spec.seen is not None:
        seen = {**spec.seen, cpu: current}
        return replace(spec, ratio=min(seen.values()), seen=seen).as_json()
    return replace(spec, ratio=current).as_json()


def updated_baseline(
    results: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    *,
    suites: Iterable[str],
) -> dict[str, Any]:
    """A new baseline (schema /2): the run's ratios for the selected suites, the rest kept.

    Per-ratio settings (tolerance, lowest seen, informational), per-group tolerances and the
    default tolerance of ``previous`` are kept.
    """
    if results.get("smoke"):
        raise BaselineError("a smoke run cannot become the baseline: its sizes are tiny")
    if previous is not None:
        validate_baseline(previous)
    selected = set(suites)
    old_groups = dict(previous["groups"]) if previous else {}
    groups = {p: g for p, g in old_groups.items() if g["suite"] not in selected}
    cpu = str(results["machine"]["cpu"])
    for path, group in results["groups"].items():
        if not group["ratios"]:
            continue
        old = old_groups.get(path, {})
        entry: dict[str, Any] = {
            "suite": group["suite"],
            "ratios": {
                peer: _updated_ratio(old.get("ratios", {}).get(peer), r, cpu, f"{path}/{peer}")
                for peer, r in sorted(group["ratios"].items())
            },
        }
        if "tolerance" in old:
            entry["tolerance"] = old["tolerance"]
        groups[path] = entry
    return {
        "schema": BASELINE_SCHEMA,
        "tolerance": previous["tolerance"] if previous else DEFAULT_TOLERANCE,
        "updated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": results["machine"],
        "groups": dict(sorted(groups.items())),
    }
