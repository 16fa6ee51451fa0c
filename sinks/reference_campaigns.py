"""The campaign KPI definitions of docs/bi/kpis.md (Campaigns) in plain Python.

An executable specification of the views of migrations 0012, 0020 and 0022, written
independently of the SQL in the style of :mod:`sinks.reference`: tests compute the KPIs
here from the rows they inserted (or read back) and compare them with what the views
return. Inputs are table columns (times in epoch ms, dates as dates); the case flags are
those of :func:`sinks.reference.case_facts`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sinks.reference import case_facts, latest_cases, local_date, table_rows
from streams.reference.campaigns import RECURRENCE_DAYS, TARGET_METRICS

__all__ = ["campaign_recurrence", "campaign_results", "loaded_calendar"]

Tables = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class _Case:
    case_id: int
    recurrence_of: int
    opened: date
    due: date | None  # the local day of its due milestone, None if it has none
    closed: bool
    closed_on_time: bool
    on_spot: bool


def _cases(tables: Tables, tz: str, now_ms: int) -> list[tuple[dict[str, Any], _Case]]:
    zone = ZoneInfo(tz)
    dispatch_ok = {r["case_id"]: r["dispatched_on_time"] for r in table_rows(tables["dispatches"])}
    out = []
    for c in latest_cases(tables["cases"]):
        f = case_facts(c, dispatch_ok, now_ms // 1000)
        if f["voided"]:
            continue  # a voided case is never found, due nor a recurrence of note
        due = local_date(f["due_s"] * 1000, zone) if f["due_s"] else None
        on_spot = c["closed_at"] > 0 and c["dispatched_at"] == 0
        case = _Case(
            c["case_id"],
            c["recurrence_of"],
            local_date(c["opened_at"], zone),
            due,
            f["closed"],
            f["closed_on_time"],
            on_spot,
        )
        out.append((c, case))
    return out


def loaded_calendar(tables: Tables) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The calendar in force: campaign_id -> its ``campaigns`` row, and the
    ``campaign_scope`` rows, of the newest revision committed in ``campaign_loads`` (a load
    writes both tables with one revision, then commits it; one that stopped before its
    commit leaves the previous calendar in force, and a committed empty load none)."""
    loaded = max((r["revision"] for r in table_rows(tables["campaign_loads"])), default=None)
    # a load two sinks wrote at once with one revision: one row per key (the views' LIMIT 1
    # BY and DISTINCT)
    by_id = {
        r["campaign_id"]: r for r in table_rows(tables["campaigns"]) if r["revision"] == loaded
    }
    covered = {
        (r["campaign_id"], r["category_key"], r["grid_code"]): r
        for r in table_rows(tables["campaign_scope"])
        if r["revision"] == loaded
    }
    return by_id, list(covered.values())


def _in_scope(
    tables: Tables, tz: str, now_ms: int
) -> dict[str, tuple[dict[str, Any], list[_Case]]]:
    """campaign_id -> (its campaigns row, the cases of its categories in its area)."""
    campaigns, scope = loaded_calendar(tables)
    categories: dict[str, set[str]] = defaultdict(set)
    grids: dict[str, set[str]] = defaultdict(set)
    for r in scope:
        if r["category_key"]:
            categories[r["campaign_id"]].add(r["category_key"])
        if r["grid_code"]:
            grids[r["campaign_id"]].add(r["grid_code"])
    cases = _cases(tables, tz, now_ms)
    out = {}
    for cid, campaign in campaigns.items():
        whole = bool(campaign["whole_district"])
        out[cid] = (
            campaign,
            [
                case
                for c, case in cases
                if c["category_key"] in categories[cid] and (whole or c["grid_code"] in grids[cid])
            ],
        )
    return out


def _between(day: date | None, first: date, last: date) -> bool:
    return day is not None and first <= day <= last


def campaign_recurrence(tables: Tables, tz: str, now_ms: int) -> dict[tuple, dict[str, Any]]:
    """What ``kpi_campaign_recurrence`` returns, keyed by (campaign_id, days)."""
    today = local_date(now_ms, ZoneInfo(tz))
    out: dict[tuple, dict[str, Any]] = {}
    for cid, (campaign, cases) in _in_scope(tables, tz, now_ms).items():
        start, end = campaign["start_date"], campaign["end_date"]
        found = {c.case_id for c in cases if _between(c.opened, start, end)}
        for n in RECURRENCE_DAYS:
            before = [
                c for c in cases if _between(c.opened, start - timedelta(n), start - timedelta(1))
            ]
            after = [c for c in cases if _between(c.opened, end + timedelta(1), end + timedelta(n))]
            row: dict[str, Any] = {
                "before_from": start - timedelta(n),
                "before_to": start - timedelta(1),
                "after_from": end + timedelta(1),
                "after_to": end + timedelta(n),
                "complete": int(today > end + timedelta(n)),
                "before_cases": len(before),
                "after_cases": len(after),
                "before_recurrences": sum(1 for c in before if c.recurrence_of),
                "after_recurrences": sum(1 for c in after if c.recurrence_of),
                "campaign_recurrences": sum(1 for c in after if c.recurrence_of in found),
            }
            row["after_share"] = _share(row["after_cases"], row["before_cases"])
            row["recurrence_share"] = _share(row["after_recurrences"], row["before_recurrences"])
            out[(cid, n)] = row
    return out


def _share(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def campaign_results(tables: Tables, tz: str, now_ms: int) -> dict[tuple, dict[str, Any]]:
    """What ``kpi_campaigns`` returns, keyed by (campaign_id,)."""
    today = local_date(now_ms, ZoneInfo(tz))
    after_share = {k: r["after_share"] for k, r in campaign_recurrence(tables, tz, now_ms).items()}
    out: dict[tuple, dict[str, Any]] = {}
    for cid, (campaign, cases) in _in_scope(tables, tz, now_ms).items():
        start, end = campaign["start_date"], campaign["end_date"]
        found = [c for c in cases if _between(c.opened, start, end)]
        due = [c for c in cases if _between(c.due, start, end)]
        row: dict[str, Any] = {
            "days": (end - start).days + 1,
            "found": len(found),
            "fixed": sum(1 for c in found if c.closed),
            "fixed_on_spot": sum(1 for c in found if c.on_spot),
            "found_recurrences": sum(1 for c in found if c.recurrence_of),
            "due": len(due),
            "closed": sum(1 for c in due if c.closed),
            "closed_on_time": sum(1 for c in due if c.closed_on_time),
        }
        row["fixed_share"] = _share(row["fixed"], row["found"])
        row["closure_rate"] = _share(row["closed"], row["due"])
        row["on_time_closure_rate"] = _share(row["closed_on_time"], row["due"])
        row.update(_target(campaign, row, after_share, today))
        out[(cid,)] = row
    return out


def _target(
    campaign: Mapping[str, Any],
    row: Mapping[str, Any],
    after_share: Mapping[tuple, float],
    today: date,
) -> dict[str, Any]:
    metric, value = campaign["target_metric"], campaign["target_value"]
    if not metric:
        return {"target_actual": 0.0, "target_judged": 0, "target_met": 0}
    window_end = campaign["end_date"]
    if metric.startswith("after_share_"):
        n = int(metric.rsplit("_", 1)[1])
        actual = after_share[(campaign["campaign_id"], n)]
        window_end += timedelta(n)
    else:
        actual = row[metric]
    judged = today > window_end
    at_most = TARGET_METRICS[metric] == "<="
    met = judged and (actual <= value if at_most else actual >= value)
    return {"target_actual": actual, "target_judged": int(judged), "target_met": int(met)}
