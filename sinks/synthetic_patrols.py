"""A seeded synthetic foot-patrol store: the street network, the roster's home areas,
patrol sessions, their segment visits and the patrol reports made on them, as table
columns (times in epoch ms) for the KPI tests beside :mod:`sinks.reference_patrols`.

Small and plain Python (a few hundred rows). It holds every case the views must get
right: a segment and a home street of an older revision (dropped), a street nobody walks,
an inspector nobody rostered, sessions without visits, sessions over midnight, reports
outside any session and reports of other sources, and every row written twice (a replay).
"""

from __future__ import annotations

import random
from typing import Any

from sinks.tables import rows_to_columns

__all__ = ["STREETS", "generate_patrols"]

MIN_MS = 60_000
DAY_MS = 86_400_000
STREETS = 6  # street 6 is never walked
SEGMENTS = 4  # per street
GRIDS = ("410611001001001", "410611001001002", "410611002001001")
# (inspector, level, department, home streets (1-based), home grids)
ROSTER: tuple[tuple[str, str, str, tuple[int, ...], tuple[str, ...]], ...] = (
    ("INS-001", "principal_leader", "municipal", tuple(range(1, STREETS + 1)), ()),
    ("INS-002", "section_chief", "municipal", (1, 2), ()),
    ("INS-003", "section_chief", "sanitation", (3, 4), ()),
    ("INS-004", "staff", "sanitation", (1,), ()),
    ("INS-005", "staff", "landscaping", (2, 3), ("410611002001001",)),
    ("INS-006", "staff", "enforcement", (4,), ()),
)
UNROSTERED = ("INS-099", "staff", "enforcement")


def _street_id(i: int) -> str:
    return f"410611-S{i:03d}"


def _network(revision: int) -> list[dict[str, Any]]:
    rows = [
        {"segment_id": i * 1000 + k, "street_id": _street_id(i), "street_name": f"路{i}",
         "length_m": 90.0 + i + k, "revision": revision}
        for i in range(1, STREETS + 1) for k in range(SEGMENTS)
    ]  # fmt: skip
    # a segment of the previous file, dropped since
    rows.append({"segment_id": 9000, "street_id": _street_id(9), "street_name": "旧路",
                 "length_m": 50.0, "revision": revision - 1})  # fmt: skip
    return rows


def _areas(revision: int) -> list[dict[str, Any]]:
    def row(who: str, level: str, dept: str, street: str, grid: str, rev: int) -> dict:
        return {"inspector_id": who, "level": level, "department": dept,
                "street_id": street, "grid_code": grid, "revision": rev}  # fmt: skip

    rows = []
    for who, level, dept, streets, grids in ROSTER:
        rows += [row(who, level, dept, _street_id(i), "", revision) for i in streets]
        rows += [row(who, level, dept, "", g, revision) for g in grids]
    # a home street of the previous roster, dropped since
    rows.append(row("INS-004", "staff", "sanitation", _street_id(5), "", revision - 1))
    return rows


def _visits(rng: random.Random, session: dict[str, Any], home: tuple[int, ...]) -> list[dict]:
    start, end = session["started_at"], session["ended_at"]
    home = tuple(h for h in home if h != STREETS)  # the last street stays unwalked
    n = rng.choice((0, 1, 2, 3, 4))
    rows = []
    for k in range(n):
        street = rng.choice(home) if home and rng.random() < 0.7 else rng.randint(1, STREETS - 1)
        # at least 5 min apart: a session lasts 20 min or more
        t0 = start + (end - start) * k // n + rng.randint(0, 4) * MIN_MS
        rows.append({
            "visit_id": f"{session['session_id']}:{k}", "session_id": session["session_id"],
            "inspector_id": session["inspector_id"], "level": session["level"],
            "department": session["department"],
            "segment_id": street * 1000 + rng.randrange(SEGMENTS),
            "street_id": _street_id(street), "street_name": f"路{street}",
            "grid_code": rng.choice(GRIDS), "started_at": t0,
            "ended_at": t0 + rng.randint(2, 20) * MIN_MS, "metres": rng.uniform(20.0, 100.0),
            "points": rng.randint(4, 40),
        })  # fmt: skip
    return rows


def _session(who: str, level: str, dept: str, start: int, minutes: int) -> dict[str, Any]:
    return {"session_id": f"D-{who}:{start}", "inspector_id": who, "level": level,
            "department": dept, "device_id": f"D-{who}", "started_at": start,
            "ended_at": start + minutes * MIN_MS, "points": minutes * 12,
            "matched_points": minutes * 10, "metres": minutes * 70.0, "segments": 0}  # fmt: skip


def _report(rng: random.Random, event_id: int, reporter: str, t: int, source: int) -> dict:
    return {"event_id": event_id, "source": source, "category": rng.randint(1, 30),
            "flags": int(rng.random() < 0.36), "lat": 35.7, "lon": 114.3, "event_time": t,
            "ingest_time": t + 1000, "device_hash": 0, "source_ref": f"p-{event_id}",
            "device_id": "", "reporter": reporter, "department": "", "text": "",
            "address": "", "grid_code": rng.choice(GRIDS)}  # fmt: skip


def generate_patrols(*, seed: int, start_ms: int, days: int) -> dict[str, dict[str, Any]]:
    """Patrol tables from ``start_ms`` (a local midnight, best) over ``days`` days."""
    rng = random.Random(seed)
    people = [(w, lv, d, home) for w, lv, d, home, _ in ROSTER] + [(*UNROSTERED, ())]
    sessions: list[dict[str, Any]] = []
    visits: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for day in range(days):
        for who, level, dept, home in people:
            for _ in range(rng.choice((0, 0, 1, 1, 1, 2))):
                hour = rng.choice((8, 9, 14, 15, 19, 23))  # 23 h: runs over midnight
                start = start_ms + day * DAY_MS + hour * 3_600_000 + rng.randint(0, 50) * MIN_MS
                s = _session(who, level, dept, start, rng.randint(20, 110))
                if any(o["session_id"] == s["session_id"] for o in sessions[-3:]):
                    continue  # the same terminal cannot start two sessions at once
                sessions.append(s)
                visits += _visits(rng, s, home)
                for _ in range(rng.choice((0, 1, 1, 2, 3))):
                    t = rng.randint(s["started_at"] - 5 * MIN_MS, s["ended_at"] + 5 * MIN_MS)
                    events.append(_report(rng, len(events) + 1, who, t, 2))
        # reports outside any session, and a hotline report with a reporter
        t = start_ms + day * DAY_MS + 3 * 3_600_000
        events.append(_report(rng, len(events) + 1, "INS-002", t, 2))
        events.append(_report(rng, len(events) + 1, "INS-002", t + 9 * 3_600_000, 1))
    tables = {
        "street_segments": _network(revision=2),
        "inspector_areas": _areas(revision=7),
        "patrol_sessions": sessions,
        "patrol_segment_visits": visits,
        "events": events,
    }
    return {name: rows_to_columns(name, rows + rows) for name, rows in tables.items()}
