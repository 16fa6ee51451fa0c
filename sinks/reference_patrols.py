"""The foot patrol (铁脚板) KPI definitions of docs/bi/kpis.md in plain Python.

An executable specification of the views of migration 0009, written independently of the
SQL, in the style of :mod:`sinks.reference`: tests compute the KPIs here from the rows
they inserted and compare them with what the views return. Inputs are table columns (times
in epoch ms); the store keeps whole seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sinks.reference import current_rows, local_date, period_starts, table_rows

__all__ = [
    "FINDING_WINDOW_S",
    "patrol_findings",
    "patrol_rule",
    "street_coverage",
    "streets_not_walked",
]

Tables = Mapping[str, Mapping[str, Any]]
FINDING_WINDOW_S = 300  # a report up to 5 min before or after a session is made in it


def _last(columns: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """One row per ``key``, the last written (ReplacingMergeTree without a version)."""
    return list({r[key]: r for r in table_rows(columns)}.values())


def _s(ms: int) -> int:
    return ms // 1000


def _periods(day: date, per: str = "day") -> list[tuple[str, date]]:
    """The periods a rule unit (or a day) belongs to: a week unit never to a day."""
    return [(p, s) for p, s in period_starts(day) if not (per == "week" and p == "day")]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


class _Areas:
    """The roster's home areas (inspector_areas, latest revision)."""

    def __init__(self, tables: Tables) -> None:
        rows = current_rows(tables["inspector_areas"], ("inspector_id", "street_id", "grid_code"))
        self.streets: dict[str, set[str]] = defaultdict(set)
        self.grids: dict[str, set[str]] = defaultdict(set)
        self.roster: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for r in rows:
            who = (r["inspector_id"], r["level"], r["department"])
            self.roster.setdefault(who, set())  # an area of grids only: no home streets
            if r["street_id"]:
                self.streets[r["inspector_id"]].add(r["street_id"])
                self.roster[who].add(r["street_id"])
            if r["grid_code"]:
                self.grids[r["inspector_id"]].add(r["grid_code"])

    def street_in(self, visit: Mapping[str, Any]) -> bool:
        return visit["street_id"] in self.streets.get(visit["inspector_id"], ())

    def visit_in(self, visit: Mapping[str, Any]) -> bool:
        return self.street_in(visit) or visit["grid_code"] in self.grids.get(
            visit["inspector_id"], ()
        )


def _sessions(tables: Tables, areas: _Areas, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Sessions with their local day and whether one of their visits is in the home area."""
    in_area: dict[str, bool] = defaultdict(bool)
    for v in _last(tables["patrol_segment_visits"], "visit_id"):
        in_area[v["session_id"]] |= areas.visit_in(v)
    return [
        {**s, "day": local_date(s["started_at"], zone), "in_area": in_area[s["session_id"]]}
        for s in _last(tables["patrol_sessions"], "session_id")
    ]


def _rules(tables: Tables) -> dict[str, dict[str, Any]]:
    """The rule per level: the highest revision (ReplacingMergeTree(revision))."""
    best: dict[str, dict[str, Any]] = {}
    for row in table_rows(tables["patrol_level_rules"]):
        if row["level"] not in best or row["revision"] >= best[row["level"]]["revision"]:
            best[row["level"]] = row
    return best


def _units_judged(sessions: list[dict[str, Any]]) -> dict[tuple[str, str, date], int]:
    """(per, period, period_start) -> rule units judged: district days and weeks with data."""
    units = {("day", s["day"]) for s in sessions} | {("week", _monday(s["day"])) for s in sessions}
    out: dict[tuple[str, str, date], int] = defaultdict(int)
    for per, start in units:
        for period, period_start in _periods(start, per):
            out[(per, period, period_start)] += 1
    return out


def _units_met(
    sessions: list[dict[str, Any]], rules: Mapping[str, Mapping[str, Any]]
) -> dict[tuple[Any, ...], int]:
    """(period, period_start, inspector, level, department) -> rule units met."""
    days: dict[tuple[Any, ...], set[date]] = defaultdict(set)  # a patrol: a day out
    for s in sessions:
        rule = rules.get(s["level"])
        if rule is None or (rule["own_area"] and not s["in_area"]):
            continue
        unit = _monday(s["day"]) if rule["per"] == "week" else s["day"]
        days[(s["inspector_id"], s["level"], s["department"], rule["per"], unit)].add(s["day"])
    out: dict[tuple[Any, ...], int] = defaultdict(int)
    for (who, level, dept, per, unit), patrol_days in days.items():
        if len(patrol_days) >= rules[level]["min_patrols"]:
            for period, start in _periods(unit, per):
                out[(period, start, who, level, dept)] += 1
    return out


def _activity(tables: Tables, tz: str) -> tuple[dict[tuple[Any, ...], dict[str, Any]], Any]:
    zone = ZoneInfo(tz)
    areas = _Areas(tables)
    sessions = _sessions(tables, areas, zone)
    acc: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {"patrols": 0, "days": set(), "own": 0, "metres": 0.0, "streets": set(),
                 "segments": set(), "home": 0, "home_walked": set()}
    )  # fmt: skip
    data_periods = {p for s in sessions for p in period_starts(s["day"])}
    for (who, level, dept), home in areas.roster.items():
        for period, start in data_periods:
            acc[(period, start, who, level, dept)]["home"] = len(home)
    for s in sessions:
        for period, start in period_starts(s["day"]):
            a = acc[(period, start, s["inspector_id"], s["level"], s["department"])]
            a["patrols"] += 1
            a["days"].add(s["day"])
            a["own"] += int(s["in_area"])
    for v in _last(tables["patrol_segment_visits"], "visit_id"):
        for period, start in period_starts(local_date(v["started_at"], zone)):
            a = acc[(period, start, v["inspector_id"], v["level"], v["department"])]
            a["metres"] += v["metres"]
            a["streets"].add(v["street_id"])
            a["segments"].add(v["segment_id"])
            if areas.street_in(v):
                a["home_walked"].add(v["street_id"])
    return acc, sessions


def patrol_rule(tables: Tables, tz: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """What ``kpi_patrol_rule`` returns, keyed by (period, period_start, inspector_id,
    level, department)."""
    acc, sessions = _activity(tables, tz)
    rules = _rules(tables)
    judged = _units_judged(sessions)
    met = _units_met(sessions, rules)
    out = {}
    for key, a in acc.items():
        rule = rules.get(key[3], {"per": "", "min_patrols": 0, "own_area": 0})
        units = judged.get((rule["per"], key[0], key[1]), 0)
        units_met = met.get(key, 0)
        home = a["home"]
        out[key] = {
            "patrols": a["patrols"],
            "patrol_days": len(a["days"]),
            "own_area_patrols": a["own"],
            "metres": a["metres"],
            "streets_walked": len(a["streets"]),
            "segments_walked": len(a["segments"]),
            "home_streets": home,
            "home_streets_walked": len(a["home_walked"]),
            "own_area_coverage": 100.0 * len(a["home_walked"]) / home if home else 0.0,
            "rule_per": rule["per"],
            "min_patrols": rule["min_patrols"],
            "own_area": rule["own_area"],
            "units": units,
            "units_met": units_met,
            "judged": int(units > 0),
            "met": int(units > 0 and units_met >= units),
        }
    return out


def _network(tables: Tables) -> list[dict[str, Any]]:
    return current_rows(tables["street_segments"], ("segment_id",))


def street_coverage(tables: Tables, tz: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """What ``kpi_street_coverage`` returns, keyed by (period, period_start, level,
    street_id, segment_id); ``last_walked_s`` is ``last_walked`` in epoch seconds."""
    zone = ZoneInfo(tz)
    size: dict[tuple[str, str, int], list[float]] = defaultdict(lambda: [0, 0.0])
    for seg in _network(tables):
        for level, unit in (("segment", seg["segment_id"]), ("street", 0)):
            size[(level, seg["street_id"], unit)][0] += 1
            size[(level, seg["street_id"], unit)][1] += seg["length_m"]
    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    for v in _last(tables["patrol_segment_visits"], "visit_id"):
        for period, start in period_starts(local_date(v["started_at"], zone)):
            for level, unit in (("segment", v["segment_id"]), ("street", 0)):
                key = (period, start, level, v["street_id"], unit)
                a = acc.setdefault(key, {"visits": 0, "sessions": set(), "inspectors": set(),
                                         "metres": 0.0, "last": 0, "segments": set(),
                                         "street_name": v["street_name"]})  # fmt: skip
                a["visits"] += 1
                a["sessions"].add(v["session_id"])
                a["inspectors"].add(v["inspector_id"])
                a["metres"] += v["metres"]
                a["last"] = max(a["last"], _s(v["ended_at"]))
                a["segments"].add(v["segment_id"])
    out = {}
    for key, a in acc.items():
        n, length = size.get((key[2], key[3], key[4]), (0, 0.0))
        out[key] = {
            "street_name": a["street_name"],
            "visits": a["visits"],
            "sessions": len(a["sessions"]),
            "inspectors": len(a["inspectors"]),
            "metres": a["metres"],
            "last_walked_s": a["last"],
            "segments_walked": len(a["segments"]),
            "segments": n,
            "length_m": length,
            "coverage": 100.0 * len(a["segments"]) / n if n else 0.0,
        }
    return out


def streets_not_walked(tables: Tables, tz: str, today: date) -> dict[str, dict[str, Any]]:
    """What ``kpi_streets_not_walked`` returns on local day ``today``, keyed by street_id;
    ``last_walked_s`` is ``last_walked`` in epoch seconds (0: never)."""
    zone = ZoneInfo(tz)
    last: dict[int, int] = {}
    for v in _last(tables["patrol_segment_visits"], "visit_id"):
        last[v["segment_id"]] = max(last.get(v["segment_id"], 0), _s(v["ended_at"]))
    acc: dict[str, dict[str, Any]] = {}
    for seg in _network(tables):
        a = acc.setdefault(seg["street_id"], {"street_name": seg["street_name"], "segments": 0,
                                              "length_m": 0.0, "walked": 0, "last": 0})  # fmt: skip
        a["segments"] += 1
        a["length_m"] += seg["length_m"]
        a["walked"] += int(seg["segment_id"] in last)
        a["last"] = max(a["last"], last.get(seg["segment_id"], 0))
    return {
        street: {
            "street_name": a["street_name"],
            "segments": a["segments"],
            "length_m": a["length_m"],
            "segments_walked": a["walked"],
            "segments_not_walked": a["segments"] - a["walked"],
            "last_walked_s": a["last"],
            "never_walked": int(a["walked"] == 0),
            "days_since_walked": (today - local_date(a["last"] * 1000, zone)).days,
        }
        for street, a in acc.items()
    }


def _finding_rows(tables: Tables, zone: ZoneInfo) -> list[tuple[date, str, str, str, int]]:
    """(day, department, street_id, street_name, fixed) of each patrol report made in a
    session."""
    by_inspector: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in _last(tables["patrol_sessions"], "session_id"):
        by_inspector[s["inspector_id"]].append(s)
    visits: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in _last(tables["patrol_segment_visits"], "visit_id"):
        visits[v["session_id"]].append(v)
    rows = []
    for e in _last(tables["events"], "event_id"):
        if e["source"] != 2:
            continue
        t = _s(e["event_time"])
        held = [
            s
            for s in by_inspector.get(e["reporter"], [])
            if _s(s["started_at"]) - FINDING_WINDOW_S <= t <= _s(s["ended_at"]) + FINDING_WINDOW_S
        ]
        if not held:
            continue
        session = min(held, key=lambda s: _s(s["started_at"]))
        street, name = "", ""
        if visits[session["session_id"]]:
            near = min(visits[session["session_id"]], key=lambda v: _rank(v, t))
            street, name = near["street_id"], near["street_name"]
        rows.append((local_date(e["event_time"], zone), session["department"], street, name,
                     e["flags"] & 1))  # fmt: skip
    return rows


def _rank(visit: Mapping[str, Any], t: int) -> tuple[int, int]:
    start, end = _s(visit["started_at"]), _s(visit["ended_at"])
    return (start - t if t < start else t - end if t > end else 0, start)


def patrol_findings(tables: Tables, tz: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """What ``kpi_patrol_findings`` returns, keyed by (period, period_start, level, unit)."""
    zone = ZoneInfo(tz)
    rows = [(day, dept, street, name, 1, fixed, 0.0)
            for day, dept, street, name, fixed in _finding_rows(tables, zone)]  # fmt: skip
    for v in _last(tables["patrol_segment_visits"], "visit_id"):
        day = local_date(v["started_at"], zone)
        rows.append((day, v["department"], v["street_id"], v["street_name"], 0, 0, v["metres"]))
    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    for day, dept, street, name, found, fixed, metres in rows:
        for period, start in period_starts(day):
            for level, unit in (("department", dept), ("street", street), ("district", "")):
                if level != "district" and not unit:
                    continue
                a = acc.setdefault((period, start, level, unit), {
                    "name": name if level == "street" else "", "findings": 0,
                    "fixed_on_spot": 0, "metres": 0.0})  # fmt: skip
                a["findings"] += found
                a["fixed_on_spot"] += fixed
                a["metres"] += metres
    out = {}
    for key, a in acc.items():
        km = a.pop("metres") / 1000.0
        found = a["findings"]
        out[key] = {
            **a,
            "km_walked": km,
            "findings_per_km": found / km if km else 0.0,
            "fixed_share": 100.0 * a["fixed_on_spot"] / found if found else 0.0,
        }
    return out
