"""The goals from the issues, declared once and reported with every run, never asserted.

A goal is an absolute figure (events/s, a latency) or a ratio to a peer that an issue set as
the target. Absolute figures depend on the CPU (the typhoon-day dedup ran at 8.4 M ev/s on
an AMD EPYC and 3.6 M ev/s on an Intel Xeon with the same code), so asserting them inside a
benchmark fails a run for the machine it ran on, not for a change in the code, and a
failing assertion also hides the regression guard's verdict. Relative regressions are the
guard's job (:mod:`bench.harness.guard`); goals are progress, shown as met / not met in the
results (``results["goals"]``) and the table's "Goals" section.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.kpi_paths import KPI_NAMES

__all__ = ["GOALS", "MET", "NOT_JUDGED", "NOT_MET", "NOT_RUN", "Goal", "evaluate_goals"]

MET, NOT_MET, NOT_RUN, NOT_JUDGED = "met", "not met", "not run", "not judged (smoke)"

# how a goal's figure compares with its target
_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<": operator.lt}
# what a goal measures: the subject's events/s, a ratio to a peer, or a figure the
# benchmark recorded in extra_info (``figure:<key>``)
_RATE = "events/s"
_RATIO = "ratio:"
_FIGURE = "figure:"


@dataclass(frozen=True)
class Goal:
    path: str  # the benchmark group
    measure: str  # "events/s", "ratio:<peer>" or "figure:<extra_info key>"
    op: str  # ">=" or "<"
    target: float
    note: str = ""

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"goal op must be one of {', '.join(_OPS)}, got {self.op!r}")
        if not (self.measure == _RATE or self.measure.startswith((_RATIO, _FIGURE))):
            raise ValueError(f"goal measure {self.measure!r} is not events/s, ratio: or figure:")

    @property
    def label(self) -> str:
        if self.measure == _RATE:
            return f"{self.path} >= {_human(self.target)} ev/s"
        if self.measure.startswith(_RATIO):
            return f"{self.path} >= {self.target:g}x {self.measure[len(_RATIO) :]}"
        return f"{self.path} {self.measure[len(_FIGURE) :]} {self.op} {self.target:g}"

    def measured(self, groups: Mapping[str, Any]) -> float | None:
        """The run's figure for this goal, or None when it did not run."""
        group = groups.get(self.path)
        if group is None or group.get("subject") is None:
            return None
        if self.measure == _RATE:
            return float(group["subject"]["events_per_s"])
        if self.measure.startswith(_RATIO):
            value = group["ratios"].get(self.measure[len(_RATIO) :])
        else:
            value = group["subject"].get("figures", {}).get(self.measure[len(_FIGURE) :])
        return None if value is None else float(value)


def _human(value: float) -> str:
    for scale, unit in ((1e6, " M"), (1e3, " k")):
        if value >= scale:
            return f"{value / scale:g}{unit}"
    return f"{value:g}"


GOALS: tuple[Goal, ...] = (
    Goal("bucketing", _RATE, ">=", 100e6),
    Goal("bucketing", "ratio:h3", ">=", 100),
    Goal("dedup-typhoon", _RATE, ">=", 10e6, "per core, the simulated typhoon day"),
    Goal("dedup-typhoon", "ratio:reference", ">=", 50),
    Goal("dedup-typhoon", "ratio:ckdtree", ">=", 5),
    Goal("dedup", _RATE, ">=", 10e6, "per core, synthetic stress day, harder than a real day"),
    Goal("dedup", "ratio:reference", ">=", 50),
    Goal("dedup", "ratio:ckdtree", ">=", 5),
    Goal("street-match", "ratio:shapely-strtree", ">=", 10, "nearest segment within 25 m"),
    Goal("normalize", _RATE, ">=", 50e3),
    Goal("import", _RATE, ">=", 50e3, "311 export rows to raw.hotline, parse + produce"),
    Goal("sink-insert", "figure:paired_ratio", ">=", 0.7, "sink ÷ bare insert, alternating"),
    Goal("e2e-dedup", _RATE, ">=", 1e6, "fused core path through the broker, 2 cores"),
    Goal(
        "e2e-ingest",
        "ratio:clickhouse-kafka-engine",
        ">=",
        2,
        "raw alarms to ClickHouse rows, one worker, same topic and run (issue 19)",
    ),
    Goal("e2e-latency", "figure:latency_p99_ms", "<", 300, "arrival to dispatch, 10 k rec/s"),
    Goal("e2e-latency-2w", "figure:latency_p99_ms", "<", 1000, "30 k rec/s, two workers"),
    # issue 15: every report query and dashboard read over 10 M events in under 1 s (one
    # query a round, so 1 query/s) on the server and in chdb, each beside FINAL over the
    # raw rows on the same engine
    *(Goal(f"kpi-{p}", _RATE, ">=", 1, "under 1 s a query at 10 M events") for p in KPI_NAMES),
    *(
        Goal(f"kpi-chdb-{p}", _RATE, ">=", 1, "under 1 s a query at 10 M events, chdb")
        for p in KPI_NAMES
    ),
)


def evaluate_goals(
    groups: Mapping[str, Any], *, smoke: bool, goals: tuple[Goal, ...] = GOALS
) -> list[dict[str, Any]]:
    """One entry per goal: its label, target, the run's figure and met / not met.

    Smoke sizes say nothing about speed, so their goals are "not judged" (figure shown).
    """
    entries = []
    for goal in goals:
        value = goal.measured(groups)
        if value is None:
            status = NOT_RUN
        elif smoke:
            status = NOT_JUDGED
        else:
            status = MET if _OPS[goal.op](value, goal.target) else NOT_MET
        entries.append(
            {
                "goal": goal.label,
                "path": goal.path,
                "measure": goal.measure,
                "op": goal.op,
                "target": goal.target,
                "measured": value,
                "status": status,
                "note": goal.note,
            }
        )
    return entries
