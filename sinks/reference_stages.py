"""The KPIs of the case steps (``case_stages``: returns and callbacks) of docs/bi/kpis.md in
plain Python: the executable specification of ``kpi_returns`` and ``kpi_satisfaction``,
beside :mod:`sinks.reference` (same inputs: table columns, times in epoch ms)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sinks.reference import Key, latest_cases, local_date, period_starts, table_rows

__all__ = ["CALLBACK_RESULTS", "RETURN_COUNTS", "returns", "satisfaction"]

RETURN_COUNTS = ("dispatched", "returned")  # the counts of kpi_returns


def _latest_stages(stages: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (case_id, seq), the last written (ReplacingMergeTree without a version)."""
    return list({(r["case_id"], r["seq"]): r for r in table_rows(stages)}.values())


def returns(tables: Mapping[str, Mapping[str, Any]], tz: str) -> dict[Key, dict[str, float]]:
    """What ``kpi_returns`` returns (退单率), keyed by (period, period_start, level, unit):
    dispatches and re-dispatches to a unit against returns from it, on each step's day."""
    zone = ZoneInfo(tz)
    category = {c["case_id"]: c["category_key"] for c in latest_cases(tables["cases"])}
    out: dict[Key, dict[str, float]] = defaultdict(lambda: dict.fromkeys(RETURN_COUNTS, 0.0))
    for t in _latest_stages(tables["case_stages"]):
        if t["action"] not in ("dispatch", "redispatch", "return"):
            continue
        returned = t["action"] == "return"
        units = [("district", ""), ("department", t["department"])]
        units.append(("category", category.get(t["case_id"], "")))
        for period, start in period_starts(local_date(t["ts"], zone)):
            for level, unit in units:
                if level != "district" and not unit:
                    continue
                row = out[(period, start, level, unit)]
                row["dispatched"] += int(not returned)
                row["returned"] += int(returned)
    for row in out.values():
        sent = row["dispatched"]
        row["return_rate"] = 100.0 * row["returned"] / sent if sent else 0.0
    return dict(out)


CALLBACK_RESULTS = ("satisfied", "basically_satisfied", "unsatisfied", "unreachable")


def satisfaction(tables: Mapping[str, Mapping[str, Any]], tz: str) -> dict[Key, dict[str, float]]:
    """What ``kpi_satisfaction`` returns (满意度), keyed by (period, period_start, level,
    unit): (satisfied + basically satisfied) over the callbacks that reached the citizen."""
    zone = ZoneInfo(tz)
    out: dict[Key, dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(("callbacks", *CALLBACK_RESULTS), 0.0)
    )
    for t in _latest_stages(tables["case_stages"]):
        if t["action"] != "callback":
            continue
        units = [("district", "")] + ([("department", t["department"])] if t["department"] else [])
        for period, start in period_starts(local_date(t["ts"], zone)):
            for level, unit in units:
                row = out[(period, start, level, unit)]
                row["callbacks"] += 1
                if t["result"] in CALLBACK_RESULTS:
                    row[t["result"]] += 1
    for row in out.values():
        row["reached"] = row["callbacks"] - row["unreachable"]
        content = row["satisfied"] + row["basically_satisfied"]
        row["satisfaction_rate"] = 100.0 * content / row["reached"] if row["reached"] else 0.0
    return dict(out)
