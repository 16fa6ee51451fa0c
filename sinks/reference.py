"""The KPI definitions of docs/bi/kpis.md in plain Python, one case at a time.

An executable specification, written independently of the SQL views: tests compute KPIs
here from the rows they inserted and compare them with what the views return. Inputs are
table columns as produced by :mod:`sinks.synthetic` (times in epoch ms).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "KPI_COUNTS",
    "MEETING_PERIODS",
    "PERIODS",
    "case_facts",
    "case_unit_kpis",
    "current_rows",
    "department_scores",
    "durations",
    "escalations",
    "half_month_start",
    "hotspots",
    "intake",
    "latest_cases",
    "local_date",
    "patrol_coverage",
    "period_starts",
    "table_rows",
    "verification",
]

Key = tuple[str, date, str, str]  # period, period_start, level, unit


def table_rows(columns: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    names = list(columns)
    for values in zip(*(columns[n] for n in names), strict=True):
        yield {
            n: (v.item() if hasattr(v, "item") else v) for n, v in zip(names, values, strict=True)
        }


def _latest(columns: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """One row per ``key``: the highest version, ties to the last written (what
    ReplacingMergeTree keeps)."""
    best: dict[Any, dict[str, Any]] = {}
    for row in table_rows(columns):
        old = best.get(row[key])
        if old is None or row["version"] >= old["version"]:
            best[row[key]] = row
    return list(best.values())


def current_rows(columns: Mapping[str, Any], key: tuple[str, ...]) -> list[dict[str, Any]]:
    """Revisioned reference rows: the highest revision per ``key``, then only the rows of
    the highest revision loaded (the latest file)."""
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in table_rows(columns):
        k = tuple(row[n] for n in key)
        if k not in best or row["revision"] >= best[k]["revision"]:
            best[k] = row
    top = max((r["revision"] for r in best.values()), default=0)
    return [r for r in best.values() if r["revision"] == top]


def latest_cases(cases: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per case: the highest version (what ReplacingMergeTree keeps)."""
    return _latest(cases, "case_id")


def local_date(ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ms // 1000, UTC).astimezone(tz).date()


PERIODS = ("day", "week", "month")
# The views a meeting report reads also have the half-monthly meeting's period (migration
# 0013_meeting_periods.sql): kpi_units, kpi_department_score, kpi_intake, kpi_hotspots,
# kpi_recurrences, kpi_escalations.
MEETING_PERIODS = ("day", "week", "half_month", "month")


def half_month_start(day: date) -> date:
    """The 1st or the 16th: the start of the half month holding ``day``."""
    return day.replace(day=1 if day.day <= 15 else 16)


def period_starts(day: date, periods: tuple[str, ...] = PERIODS) -> list[tuple[str, date]]:
    starts = {
        "day": day,
        "week": day - timedelta(days=day.weekday()),
        "half_month": half_month_start(day),
        "month": day.replace(day=1),
    }
    return [(p, starts[p]) for p in periods]


def _s(ms: int) -> int:
    return ms // 1000  # the store keeps whole seconds


def case_facts(c: dict[str, Any], dispatch_ok: Mapping[int, int], now_s: int) -> dict[str, Any]:
    """The flags of the view ``case_facts`` for one case (``due_s``: its due milestone)."""
    voided = c["status"] == "voided"
    on_spot = c["closed_at"] > 0 and c["dispatched_at"] == 0
    handled_s = _s(c["closed_at"] if on_spot else c["handled_at"])
    deadline_s = _s(c["deadline"])
    handled_on_time = handled_s > 0 and (on_spot or handled_s <= deadline_s)
    if voided:
        due_s = 0
    elif on_spot:
        due_s = _s(c["closed_at"])
    elif handled_s > 0:
        due_s = min(handled_s, deadline_s) if deadline_s > 0 else handled_s
    elif 0 < deadline_s <= now_s:
        due_s = deadline_s
    else:
        due_s = 0
    return {
        "voided": voided,
        "due_s": due_s,
        "handled": handled_s > 0,
        "handled_on_time": handled_on_time,
        "closed": c["closed_at"] > 0,
        "closed_on_time": c["closed_at"] > 0 and handled_on_time,
        "reworked": c["rework_count"] > 0,
        "dispatched_on_time": bool(dispatch_ok.get(c["case_id"], 0)),
    }


def _units(c: dict[str, Any]) -> list[tuple[str, str]]:
    units = [
        ("grid", c["grid_code"]),
        ("community", c["community"]),
        ("street", c["street"]),
        ("district", ""),
    ]
    if c["department"]:
        units.append(("department", c["department"]))
    return units


KPI_COUNTS = [
    "opened",
    "due",
    "handled",
    "handled_on_time",
    "closed",
    "closed_on_time",
    "reworked",
    "dispatched",
    "dispatched_on_time",
    "closed_in_period",
    "recurrences",
]


def _milestones(c: dict[str, Any], f: dict[str, Any]) -> list[tuple[int, list[str]]]:
    """(time in s, counters it increments) for each milestone of a case."""
    out: list[tuple[int, list[str]]] = []
    if f["voided"]:
        return []
    out.append((_s(c["opened_at"]), ["opened"] + (["recurrences"] if c["recurrence_of"] else [])))
    if f["due_s"]:
        names = ["due"] + [
            n
            for n in ("handled", "handled_on_time", "closed", "closed_on_time", "reworked")
            if f[n]
        ]
        out.append((f["due_s"], names))
    if c["dispatched_at"]:
        names = ["dispatched"] + (["dispatched_on_time"] if f["dispatched_on_time"] else [])
        out.append((_s(c["dispatched_at"]), names))
    if c["closed_at"]:
        out.append((_s(c["closed_at"]), ["closed_in_period"]))
    return [(t, names) for t, names in out if t > 0]


def case_unit_kpis(
    tables: Mapping[str, Mapping[str, Any]], tz: str, now_ms: int
) -> dict[Key, dict[str, float]]:
    """What ``kpi_units`` returns, keyed by (period, period_start, level, unit)."""
    zone = ZoneInfo(tz)
    dispatch_ok = {r["case_id"]: r["dispatched_on_time"] for r in table_rows(tables["dispatches"])}
    out: dict[Key, dict[str, float]] = defaultdict(lambda: dict.fromkeys(KPI_COUNTS, 0.0))
    for c in latest_cases(tables["cases"]):
        f = case_facts(c, dispatch_ok, now_ms // 1000)
        for t_s, names in _milestones(c, f):
            for period, start in period_starts(local_date(t_s * 1000, zone), MEETING_PERIODS):
                for level, unit in _units(c):
                    row = out[(period, start, level, unit)]
                    for name in names:
                        row[name] += 1
    for row in out.values():
        due, handled, dispatched = row["due"], row["handled"], row["dispatched"]
        row["closure_rate"] = 100.0 * row["closed"] / due if due else 0.0
        row["on_time_closure_rate"] = 100.0 * row["closed_on_time"] / due if due else 0.0
        row["on_time_handling_rate"] = 100.0 * row["handled_on_time"] / due if due else 0.0
        row["on_time_dispatch_rate"] = (
            100.0 * row["dispatched_on_time"] / dispatched if dispatched else 0.0
        )
        row["rework_rate"] = 100.0 * row["reworked"] / handled if handled else 0.0
    return dict(out)


def hotspots(tables: Mapping[str, Mapping[str, Any]], tz: str) -> dict[tuple, dict[str, float]]:
    """What ``kpi_hotspots`` returns, keyed by (period, period_start, grid_code): the cases
    opened (not voided) in the unit grid, their recurrences and mean position."""
    zone = ZoneInfo(tz)
    acc: dict[tuple, dict[str, float]] = defaultdict(
        lambda: {"cases": 0.0, "recurrences": 0.0, "lat": 0.0, "lon": 0.0}
    )
    for c in latest_cases(tables["cases"]):
        if c["status"] == "voided":
            continue
        for period, start in period_starts(local_date(c["opened_at"], zone), MEETING_PERIODS):
            row = acc[(period, start, c["grid_code"])]
            row["cases"] += 1
            row["recurrences"] += 1 if c["recurrence_of"] else 0
            row["lat"] += c["lat"]
            row["lon"] += c["lon"]
    return {
        key: {
            "cases": row["cases"],
            "recurrences": row["recurrences"],
            "mean_lat": row["lat"] / row["cases"],
            "mean_lon": row["lon"] / row["cases"],
        }
        for key, row in acc.items()
    }


def grade(score: float) -> str:
    for threshold, letter in ((90, "A"), (75, "B"), (60, "C"), (40, "D")):
        if score >= threshold:
            return letter
    return "E"


def department_scores(units: Mapping[Key, Mapping[str, float]]) -> dict[Key, dict[str, Any]]:
    """What ``kpi_department_score`` returns (key level is 'department')."""
    max_due: dict[tuple[str, date], float] = defaultdict(float)
    for (period, start, level, _), row in units.items():
        if level == "department":
            max_due[(period, start)] = max(max_due[(period, start)], row["due"])
    out: dict[Key, dict[str, Any]] = {}
    for key, row in units.items():
        if key[2] != "department":
            continue
        top = max_due[(key[0], key[1])]
        volume = 100.0 * row["due"] / top if top else 0.0
        composite = (
            0.1 * volume
            + 0.3 * row["closure_rate"]
            + 0.3 * row["on_time_handling_rate"]
            + 0.3 * (100.0 - row["rework_rate"])
        )
        out[key] = {"volume_score": volume, "composite": composite, "grade": grade(composite)}
    return out


def intake(tables: Mapping[str, Mapping[str, Any]], tz: str) -> dict[tuple, dict[str, float]]:
    """What ``kpi_intake`` returns, keyed by (period, period_start, source)."""
    zone = ZoneInfo(tz)
    flags = {r["event_id"]: r["flags"] for r in table_rows(tables["events"])}
    links = {r["event_id"]: r for r in table_rows(tables["links"])}
    acc: dict[tuple, dict[str, Any]] = defaultdict(
        lambda: {
            "reports": 0,
            "new_cases": 0,
            "cases": set(),
            "fixed": 0,
            "recurrences": 0,
            "late": 0,
            "beyond": 0,
        }
    )
    for link in links.values():
        event_flags = flags.get(link["event_id"], 0)
        for period, start in period_starts(local_date(link["event_time"], zone), MEETING_PERIODS):
            a = acc[(period, start, link["source"])]
            a["reports"] += 1
            a["new_cases"] += link["is_new"]
            a["cases"].add(link["case_id"])
            a["fixed"] += event_flags & 1
            a["recurrences"] += int(bool(link["is_new"] and link["recurrence_of"]))
            a["late"] += int(bool((event_flags | link["flags"]) & 2))
            a["beyond"] += int(bool(link["flags"] & 4))
    out = {}
    for key, a in acc.items():
        dup = a["reports"] - a["new_cases"]
        out[key] = {
            "reports": a["reports"],
            "new_cases": a["new_cases"],
            "duplicates": dup,
            "duplicate_share": 100.0 * dup / a["reports"],
            "reports_per_case": a["reports"] / len(a["cases"]),
            "fixed_on_spot": a["fixed"],
            "recurrences": a["recurrences"],
            "late_reports": a["late"],
            "late_share": 100.0 * a["late"] / a["reports"],
            "beyond_state": a["beyond"],
        }
    return out


def _quantile(values: list[float], level: float) -> float:
    """ClickHouse ``quantileExact``: the element at index floor(level * n) of the sorted list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def durations(tables: Mapping[str, Mapping[str, Any]], tz: str) -> dict[tuple, dict[str, float]]:
    """What ``kpi_durations`` returns, keyed by (period, period_start, department)."""
    zone = ZoneInfo(tz)
    acc: dict[tuple, dict[str, list[float]]] = defaultdict(
        lambda: {"sign": [], "handle": [], "close": [], "n": []}
    )
    for c in latest_cases(tables["cases"]):
        if c["status"] == "voided" or not c["department"]:
            continue
        o, d = _s(c["opened_at"]), _s(c["dispatched_at"])
        s, h, cl = _s(c["signed_at"]), _s(c["handled_at"]), _s(c["closed_at"])
        for period, start in period_starts(local_date(c["opened_at"], zone)):
            a = acc[(period, start, c["department"])]
            a["n"].append(1.0)
            if s and d:
                a["sign"].append((s - d) / 60.0)
            if h and d:
                a["handle"].append((h - d) / 60.0)
            if cl:
                a["close"].append((cl - o) / 60.0)
    out = {}
    for key, a in acc.items():
        row: dict[str, float] = {"cases": len(a["n"])}
        for step, done in (("sign", "signed"), ("handle", "handled"), ("close", "closed")):
            row[done] = len(a[step])
            row[f"{step}_median_min"] = _quantile(a[step], 0.5)
            row[f"{step}_p90_min"] = _quantile(a[step], 0.9)
        out[key] = row
    return out


def patrol_coverage(
    visits: Mapping[str, Any], rules: Mapping[str, int], tz: str
) -> dict[tuple, dict[str, Any]]:
    """What ``kpi_patrol_coverage`` returns, keyed by (week_start, inspector_id, role)."""
    zone = ZoneInfo(tz)
    unique = {
        (r["inspector_id"], r["grid_code"], r["visited_at"] // 1000): r for r in table_rows(visits)
    }
    acc: dict[tuple, dict[str, set]] = defaultdict(lambda: {"days": set(), "grids": set()})
    counts: dict[tuple, int] = defaultdict(int)
    for r in unique.values():
        day = local_date(r["visited_at"], zone)
        key = (day - timedelta(days=day.weekday()), r["inspector_id"], r["role"])
        acc[key]["days"].add(day)
        acc[key]["grids"].add(r["grid_code"])
        counts[key] += 1
    out = {}
    for key, a in acc.items():
        required = rules.get(key[2], 0)
        out[key] = {
            "patrol_days": len(a["days"]),
            "grids_visited": len(a["grids"]),
            "visits": counts[key],
            "required_days": required,
            "met": int(len(a["days"]) >= required),
        }
    return out


def verification(
    tables: Mapping[str, Mapping[str, Any]], tz: str, now_ms: int
) -> dict[Key, dict[str, float]]:
    """What ``kpi_verification`` returns (按期核查率), keyed by (period, period_start,
    level, unit). A task is due once verified or past its due time, on the earlier of the
    two; voided tasks never are."""
    zone = ZoneInfo(tz)
    names = ("due", "verified", "verified_on_time", "passed", "failed")
    out: dict[Key, dict[str, float]] = defaultdict(lambda: dict.fromkeys(names, 0.0))
    for t in _latest(tables["verify_tasks"], "task_id"):
        verified = t["status"] in ("passed", "failed")
        settled_s, due_s = _s(t["settled_at"]), _s(t["due_at"])
        if t["status"] == "voided":
            continue
        if verified:
            when = min(settled_s, due_s)
        elif due_s <= now_ms // 1000:
            when = due_s
        else:
            continue
        units = [("grid", t["grid_code"]), ("street", t["street"]), ("district", "")]
        units.append(("supervisor", t["supervisor"]))
        if t["department"]:
            units.append(("department", t["department"]))
        for period, start in period_starts(local_date(when * 1000, zone)):
            for level, unit in units:
                row = out[(period, start, level, unit)]
                row["due"] += 1
                row["verified"] += int(verified)
                row["verified_on_time"] += int(verified and settled_s <= due_s)
                row["passed"] += int(t["status"] == "passed")
                row["failed"] += int(t["status"] == "failed")
    for row in out.values():
        due, done = row["due"], row["verified"]
        row["on_time_verification_rate"] = 100.0 * row["verified_on_time"] / due if due else 0.0
        row["fail_rate"] = 100.0 * row["failed"] / done if done else 0.0
    return dict(out)


def escalations(tables: Mapping[str, Mapping[str, Any]], tz: str) -> dict[tuple, dict[str, float]]:
    """What ``kpi_escalations`` returns, keyed by (period, period_start, department, level):
    escalations (one per escalation id) by the local day of their threshold, for their
    department and for the district (department '')."""
    zone = ZoneInfo(tz)
    out: dict[tuple, dict[str, float]] = defaultdict(lambda: {"escalations": 0.0})
    latest = {row["escalation_id"]: row for row in table_rows(tables["escalations"])}
    for e in latest.values():
        day = local_date(_s(e["escalated_at"]) * 1000, zone)
        for period, start in period_starts(day, MEETING_PERIODS):
            for department in (e["department"], ""):
                out[(period, start, department, e["level"])]["escalations"] += 1
    return dict(out)


RECURRENCE_COUNTS = ("closed", "recurred", "recurrences")  # the counts of kpi_recurrences


def recurrences(tables: Mapping[str, Mapping[str, Any]], tz: str) -> dict[Key, dict[str, float]]:
    """What ``kpi_recurrences`` returns (复发率), keyed by (period, period_start, level,
    unit): closed cases, on the local day of their closing, against the later cases that
    name them as ``recurrence_of``."""
    zone = ZoneInfo(tz)
    cases = latest_cases(tables["cases"])
    came_back = Counter(c["recurrence_of"] for c in cases if c["recurrence_of"])
    out: dict[Key, dict[str, float]] = defaultdict(lambda: dict.fromkeys(RECURRENCE_COUNTS, 0.0))
    for case in cases:
        if case["status"] != "closed":
            continue
        n = came_back[case["case_id"]]
        units = [("district", ""), ("department", case["department"])]
        units.append(("category", case["category_key"]))
        for period, start in period_starts(local_date(case["closed_at"], zone), MEETING_PERIODS):
            for level, unit in units:
                if level != "district" and not unit:
                    continue
                row = out[(period, start, level, unit)]
                row["closed"] += 1
                row["recurred"] += int(n > 0)
                row["recurrences"] += n
    for row in out.values():
        row["recurrence_rate"] = 100.0 * row["recurred"] / row["closed"] if row["closed"] else 0.0
    return dict(out)
