"""The meeting reports' own figures (docs/bi/reports.md) in plain Python, one case at a
time: an executable specification written apart from the SQL in ``sinks/kpi/``, which the
tests compare with it. Inputs are table columns as :mod:`sinks.reference` takes them
(times in epoch ms); the figures the reports read from the KPI views (league, units,
intake, recurrences, escalations) are :mod:`sinks.reference`'s.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sinks.reference import MEETING_PERIODS, latest_cases, local_date, period_starts, table_rows

__all__ = ["chronic", "dead_letters", "hotspots", "overdue", "overdue_first", "surge"]

Tables = Mapping[str, Mapping[str, Any]]
SURGE_FACTOR, SURGE_MIN_CASES = 3, 5  # a surge hour: >= 3 x the mean per hour and >= 5 cases
CHRONIC_FROM = 2  # recurrences of one place and category in a period that make it 顽疾


def _s(ms: int) -> int:
    return ms // 1000


def _live(tables: Tables) -> list[dict[str, Any]]:
    return [c for c in latest_cases(tables["cases"]) if c["status"] != "voided"]


def hotspots(tables: Tables, tz: str) -> dict[tuple[Any, ...], dict[str, float]]:
    """What ``kpi_hotspots`` returns, keyed by (period, period_start, grid_code)."""
    zone = ZoneInfo(tz)
    out: dict[tuple[Any, ...], dict[str, float]] = defaultdict(
        lambda: {"cases": 0.0, "recurrences": 0.0}
    )
    for c in _live(tables):
        for period, start in period_starts(local_date(c["opened_at"], zone), MEETING_PERIODS):
            row = out[(period, start, c["grid_code"])]
            row["cases"] += 1
            row["recurrences"] += int(bool(c["recurrence_of"]))
    return dict(out)


def _handled_s(c: Mapping[str, Any]) -> tuple[bool, int]:
    """(closed on the spot, when handled in s; 0 not yet): a case closed without a
    dispatch was handled when it closed."""
    on_spot = c["closed_at"] > 0 and c["dispatched_at"] == 0
    return on_spot, _s(c["closed_at"] if on_spot else c["handled_at"])


def overdue(
    tables: Tables,
    from_s: int,
    to_s: int,
    asof_s: int,
    levels: Sequence[str],
    least: str = "",
) -> dict[int, dict[str, Any]]:
    """The overdue and escalated cases of the period, by case id: deadline in the period
    and not handled by it (handled late, or unhandled at ``asof_s``), or escalated in the
    period; with the hours late and the highest level reached by ``asof_s``. With
    ``least``, only the cases whose highest level is ``least`` or above."""
    escalations = list({e["escalation_id"]: e for e in table_rows(tables["escalations"])}.values())
    escalated = {e["case_id"] for e in escalations if from_s <= _s(e["escalated_at"]) < to_s}
    top: dict[int, int] = defaultdict(int)
    for e in escalations:
        if _s(e["escalated_at"]) < asof_s:
            rank = levels.index(e["level"]) + 1
            top[e["case_id"]] = max(top[e["case_id"]], rank)
    out = {}
    for c in _live(tables):
        on_spot, handled_s = _handled_s(c)
        deadline_s = _s(c["deadline"])
        if on_spot or not deadline_s:
            continue
        late = handled_s > deadline_s or (not handled_s and deadline_s < asof_s)
        if not ((from_s <= deadline_s < to_s and late) or c["case_id"] in escalated):
            continue
        rank = top.get(c["case_id"], 0)
        if least and rank < levels.index(least) + 1:
            continue
        out[c["case_id"]] = {
            "late_h": ((handled_s or asof_s) - deadline_s) / 3600.0,
            "top_level": levels[rank - 1] if rank else "",
            "is_handled": int(handled_s > 0),
            "deadline_s": deadline_s,
            "department": c["department"],
        }
    return out


def overdue_first(
    listed: Mapping[int, Mapping[str, Any]], levels: Sequence[str], rows: int
) -> list[int]:
    """The case ids of the first ``rows`` of :func:`overdue`'s list as the report names
    them: highest level first, then the latest, then by case id."""

    def order(case_id: int) -> tuple[int, float, int]:
        row = listed[case_id]
        rank = levels.index(row["top_level"]) + 1 if row["top_level"] else 0
        return -rank, -row["late_h"], case_id

    return sorted(listed, key=order)[:rows]


def chronic(tables: Tables, from_s: int, to_s: int) -> dict[tuple[str, str], dict[str, Any]]:
    """Recurrences opened in the period per (grid_code, category_key): how many, of how
    many closed problems, and whether the place is chronic (顽疾; cases without a grid
    code are no place, so never)."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for c in _live(tables):
        if c["recurrence_of"] and from_s <= _s(c["opened_at"]) < to_s:
            groups[(c["grid_code"], c["category_key"])].append(c["recurrence_of"])
    return {
        key: {
            "recurrences": len(of),
            "problems": len(set(of)),
            "chronic": int(len(of) >= CHRONIC_FROM and key[0] != ""),
        }
        for key, of in groups.items()
    }


def _hour(ts_s: int, from_s: int) -> int:
    return (ts_s - from_s) // 3600


def surge(tables: Tables, from_s: int, to_s: int) -> dict[str, Any]:
    """The surge recovery figures of the period's hours (see ``sinks/kpi/surge.sql``)."""
    n = (to_s - from_s) // 3600
    opened, closed = [0] * n, [0] * n
    backlog0 = 0
    for c in _live(tables):
        o, cl = _s(c["opened_at"]), _s(c["closed_at"])
        if o < from_s and (cl == 0 or cl >= from_s):
            backlog0 += 1
        if from_s <= o < to_s:
            opened[_hour(o, from_s)] += 1
        if cl and from_s <= cl < to_s:
            closed[_hour(cl, from_s)] += 1
    backlog, level = [], backlog0
    for a, b in zip(opened, closed, strict=True):
        level += a - b
        backlog.append(level)
    mean = sum(opened) / n
    hours = [
        i for i in range(n) if opened[i] >= SURGE_FACTOR * mean and opened[i] >= SURGE_MIN_CASES
    ]
    out: dict[str, Any] = {"opened": opened, "closed": closed, "backlog": backlog}
    out.update(surge_hours=hours, start_backlog=backlog0, first_surge=-1, peak_backlog=0)
    out.update(peak_hour=-1, cleared_hour=-1, hours_to_clear=-1)
    if not hours:
        return out
    first = hours[0]
    baseline = backlog0 if first == 0 else backlog[first - 1]
    peak_value = max(backlog[first:])
    peak = first + backlog[first:].index(peak_value)
    cleared = next((j for j in range(peak + 1, n) if backlog[j] <= baseline), -1)
    out.update(first_surge=first, baseline=baseline, peak_backlog=peak_value, peak_hour=peak)
    out.update(cleared_hour=cleared, hours_to_clear=cleared + 1 - first if cleared >= 0 else -1)
    return out


def dead_letters(dead: Mapping[str, Any], tz: str, from_day: Any, to_day: Any) -> Counter[Any]:
    """Dead letters per (source, reason) received on the local days ``from_day`` to
    ``to_day`` (one per dead letter id)."""
    zone = ZoneInfo(tz)
    rows = {r["dl_id"]: r for r in table_rows(dead)}.values()
    return Counter(
        (r["source"], r["reason"])
        for r in rows
        if from_day <= local_date(r["received_at"], zone) <= to_day
    )
