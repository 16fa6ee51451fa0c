"""A seeded synthetic store: cases with varied lifecycles, their events, links, dispatches,
verify tasks, escalations and patrol visits, as table columns ready for
:class:`~sinks.clickhouse.ClickHouseSink`.

Used by the KPI tests (beside :mod:`sinks.reference`) and the sink benchmarks. Vectorised
with numpy so a few million events take seconds. Times are epoch ms. Case rows include
older versions of some cases (``history``) and the open versions of settled verify tasks,
so stores must keep the latest version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sinks.tables import TABLES
from streams.cases.escalation import Ladder
from streams.cases.records import case_version
from streams.contracts.fused import FLAG_BEYOND_STATE, FLAG_LATE
from streams.reference.categories import DEPARTMENTS

__all__ = ["GRID_CODES", "Dataset", "generate"]

MIN_MS = 60_000
HOUR_MS = 3_600_000
ADMIN = "410611"
# 3 streets x 2 communities x 4 grids (15-digit unit-grid codes)
GRID_CODES: tuple[str, ...] = tuple(
    f"{ADMIN}{s:03d}{c:03d}{g:03d}" for s in (1, 2, 3) for c in (1, 2) for g in (1, 2, 3, 4)
)
CATEGORIES: tuple[str, ...] = ("C0101", "C0118", "E0102", "E0111", "E0505")
ROLES: tuple[str, ...] = ("department_head", "section_chief", "inspector")
FAR_FUTURE_MS = 4_000_000_000_000  # 2096: deadlines that are never due in a test run


@dataclass
class Dataset:
    """Columns per table (``cases`` holds every version written, latest last)."""

    tables: dict[str, dict[str, Any]]

    def rows(self, table: str) -> int:
        return len(next(iter(self.tables[table].values())))


def _pick(rng: np.random.Generator, pool: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)]


def _case_times(rng: np.random.Generator, n: int, start_ms: int, days: int) -> dict[str, Any]:
    opened = start_ms + rng.integers(0, days * 86_400_000, n)
    kind = rng.random(n)
    voided = kind < 0.05
    on_spot = (kind >= 0.05) & (kind < 0.15)
    dispatched = ~voided & ~on_spot
    urgent = (rng.random(n) < 0.3) & dispatched
    d_at = np.where(dispatched, opened + rng.integers(1, 60, n) * MIN_MS, 0)
    d_due = np.where(dispatched, opened + np.where(urgent, 10, 30) * MIN_MS, 0)
    never_due = dispatched & (rng.random(n) < 0.05)
    deadline = np.where(dispatched, d_at + rng.integers(2, 48, n) * HOUR_MS, 0)
    deadline = np.where(never_due, FAR_FUTURE_MS, deadline)
    signed = dispatched & (rng.random(n) < 0.9)
    s_at = np.where(signed, d_at + rng.integers(1, 180, n) * MIN_MS, 0)
    handled = signed & ~never_due & (rng.random(n) < 0.85)
    rework = np.where(handled & (rng.random(n) < 0.15), rng.integers(1, 3, n), 0)
    h_at = np.where(handled, s_at + rng.integers(10, 60 * 60, n) * MIN_MS, 0)
    closed = handled & (rng.random(n) < 0.85)
    c_at = np.where(closed, h_at + rng.integers(10, 120, n) * MIN_MS, 0)
    c_at = np.where(on_spot, opened + rng.integers(1, 30, n) * MIN_MS, c_at)
    status = np.full(n, "dispatched", dtype=object)
    status[signed] = "signed"
    status[handled] = "handled"
    status[closed | on_spot] = "closed"
    status[voided] = "voided"
    status[~voided & ~on_spot & ~dispatched] = "opened"
    return {
        "opened_at": opened,
        "dispatched_at": d_at,
        "dispatch_due": d_due,
        "deadline": deadline,
        "signed_at": s_at,
        "handled_at": h_at,
        "closed_at": c_at,
        "voided_at": np.where(voided, opened + 5 * MIN_MS, 0),
        "status": status,
        "rework_count": rework.astype(np.uint16),
        "urgent": urgent.astype(np.uint8),
        "fixed_on_spot": on_spot.astype(np.uint8),
        "hold_s": np.where(dispatched & (rng.random(n) < 0.05), rng.integers(1, 48, n) * 3600, 0),
        "dispatched": dispatched,
        "handled": handled,
    }


def _cases(rng: np.random.Generator, n: int, start_ms: int, days: int) -> dict[str, Any]:
    t = _case_times(rng, n, start_ms, days)
    case_id = rng.choice(np.arange(1, 50 * n + 1, dtype=np.uint64), n, replace=False)
    grid_idx = np.minimum(rng.geometric(0.15, n) - 1, len(GRID_CODES) - 1)
    grid = np.asarray(GRID_CODES, dtype=object)[grid_idx]
    recurrence = np.where(rng.random(n) < 0.05, case_id[rng.integers(0, n, n)], 0)
    n_events = rng.integers(1, 6, n).astype(np.uint32)
    seq = rng.integers(1, 9, n)
    t.update(
        case_id=case_id,
        version=(seq.astype(np.uint64) << np.uint64(32)) | n_events.astype(np.uint64),
        category_key=_pick(rng, CATEGORIES, n),
        department=np.where(t["status"] == "opened", "", _pick(rng, DEPARTMENTS, n)),
        grid_code=grid,
        community=np.asarray([g[:12] for g in grid], dtype=object),
        street=np.asarray([g[:9] for g in grid], dtype=object),
        lat=35.70 + 0.01 * grid_idx + rng.random(n) * 0.005,
        lon=114.25 + 0.01 * (grid_idx % 4) + rng.random(n) * 0.005,
        recurrence_of=recurrence.astype(np.uint64),
        n_events=n_events,
    )
    return t


_CASE_COLUMNS = [
    "case_id",
    "version",
    "category_key",
    "department",
    "grid_code",
    "community",
    "street",
    "lat",
    "lon",
    "opened_at",
    "dispatched_at",
    "deadline",
    "signed_at",
    "handled_at",
    "closed_at",
    "voided_at",
    "status",
    "rework_count",
    "recurrence_of",
    "n_events",
    "urgent",
    "fixed_on_spot",
    "hold_s",
]


def _history(rng: np.random.Generator, c: dict[str, Any]) -> dict[str, Any]:
    """Older versions of a third of the cases: still 'opened', lower version."""
    old = rng.random(len(c["case_id"])) < 0.33
    rows = {k: np.asarray(c[k])[old].copy() for k in _CASE_COLUMNS}
    rows["version"] = np.asarray([case_version(0, 1)] * int(old.sum()), dtype=np.uint64)
    for k in ("dispatched_at", "deadline", "signed_at", "handled_at", "closed_at", "voided_at"):
        rows[k][:] = 0
    rows["status"][:] = "opened"
    rows["rework_count"][:] = 0
    rows["hold_s"][:] = 0
    return rows


def _events_and_links(rng: np.random.Generator, c: dict[str, Any]) -> tuple[dict, dict]:
    n_ev = c["n_events"].astype(np.int64)
    owner = np.repeat(np.arange(len(n_ev)), n_ev)
    first = np.zeros(len(owner), dtype=bool)
    first[np.concatenate(([0], np.cumsum(n_ev)[:-1]))] = True
    m = len(owner)
    event_id = rng.choice(np.arange(1, 10 * m + 1, dtype=np.uint64), m, replace=False)
    source = rng.integers(0, 3, m).astype(np.uint8)
    source[first & (c["fixed_on_spot"][owner] == 1)] = 2
    ev_time = c["opened_at"][owner] + np.where(first, 0, rng.integers(1, 600, m) * MIN_MS)
    flags = (first & (c["fixed_on_spot"][owner] == 1)).astype(np.uint8)
    refs = np.asarray([f"ref-{int(e)}" for e in event_id], dtype=object)
    empty = np.full(m, "", dtype=object)
    events = {
        "event_id": event_id,
        "source": source,
        "category": rng.integers(1, 30, m).astype(np.uint16),
        "flags": flags,
        "lat": c["lat"][owner],
        "lon": c["lon"][owner],
        "event_time": ev_time,
        "ingest_time": ev_time + 1000,
        "device_hash": np.zeros(m, np.uint64),
        "source_ref": refs,
        "device_id": empty,
        "reporter": empty,
        "department": c["department"][owner],
        "text": empty,
        "address": empty,
        "grid_code": c["grid_code"][owner],
    }
    links = {
        "event_id": event_id,
        "case_id": c["case_id"][owner],
        "source": source,
        "source_ref": refs,
        "is_new": first.astype(np.uint8),
        "recurrence_of": np.where(first, c["recurrence_of"][owner], 0).astype(np.uint64),
        "event_time": ev_time,
        "flags": flags.copy(),
    }
    return events, links


def _make_late(rng: np.random.Generator, events: dict[str, Any], links: dict[str, Any]) -> None:
    """About 10 % of the reports arrive 6 h to 3 days late (flagged in both tables), and a
    fifth of the late ones that opened their case were beyond the dedup state's reach.

    A generator of its own, so the rest of the dataset is what it was before lateness."""
    m = len(events["event_id"])
    late = rng.random(m) < 0.1
    delay = rng.integers(6 * 60 + 1, 3 * 24 * 60, m) * MIN_MS
    events["ingest_time"] = np.where(late, events["event_time"] + delay, events["ingest_time"])
    events["flags"] = events["flags"] | np.where(late, FLAG_LATE, 0).astype(np.uint8)
    beyond = late & (links["is_new"] == 1) & (rng.random(m) < 0.2)
    links["flags"] = events["flags"] | np.where(beyond, FLAG_BEYOND_STATE, 0).astype(np.uint8)


def _dispatches(c: dict[str, Any]) -> dict[str, Any]:
    d = c["dispatched"]
    on_time = (c["dispatched_at"][d] <= c["dispatch_due"][d]).astype(np.uint8)
    n = int(d.sum())
    return {
        "case_id": c["case_id"][d],
        "category_key": c["category_key"][d],
        "department": c["department"][d],
        "urgent": c["urgent"][d],
        "opened_at": c["opened_at"][d],
        "dispatched_at": c["dispatched_at"][d],
        "dispatch_due": c["dispatch_due"][d],
        "dispatched_on_time": on_time,
        "deadline_value": np.full(n, 4.0),
        "deadline_unit": np.full(n, "work_hours", object),
        "deadline": c["deadline"][d],
    }


def _verify_tasks(rng: np.random.Generator, c: dict[str, Any]) -> dict[str, Any]:
    """One task per handling of a handled case (reworks included), plus the open versions
    of the settled ones; rural streets (002) get 2 h, the others 1 h."""
    rows: list[dict[str, Any]] = []
    for i in np.flatnonzero(c["handled"]):
        last = int(c["rework_count"][i])
        for r in range(last + 1):
            issued = int(c["handled_at"][i]) - (last - r) * 3 * HOUR_MS
            street = str(c["street"][i])
            limit = 2 * HOUR_MS if street.endswith("002") else HOUR_MS
            closed = bool(c["closed_at"][i])
            status = "failed" if r < last else ("passed" if closed else "open")
            if status == "open" and rng.random() < 0.3:
                status = "voided"
            due = issued + limit if rng.random() > 0.05 else FAR_FUTURE_MS
            settled = issued + int(rng.integers(10, 150)) * MIN_MS if status != "open" else 0
            row = {
                "task_id": f"{int(c['case_id'][i])}:v{r}",
                "version": int(status != "open"),
                "case_id": int(c["case_id"][i]),
                "rework_round": r,
                "supervisor": f"SUP-{street[-3:]}-{int(rng.integers(1, 4)):02d}",
                "basis": "roster",
                "department": str(c["department"][i]),
                "category_key": str(c["category_key"][i]),
                "grid_code": str(c["grid_code"][i]),
                "street": street,
                "area": "rural" if limit > HOUR_MS else "urban",
                "issued_at": issued,
                "due_at": due,
                "status": status,
                "settled_at": settled,
                "note": "",
            }
            if status != "open":  # the open version it replaced
                rows.append({**row, "version": 0, "status": "open", "settled_at": 0})
            rows.append(row)
    return {col.name: [r[col.name] for r in rows] for col in TABLES["verify_tasks"]}


def _escalations(rng: np.random.Generator, c: dict[str, Any], end_ms: int) -> dict[str, Any]:
    """The ladder's levels each dispatched case reached while with its department (until
    it was handled, else ``end_ms``); some re-sent, as after a worker crash."""
    ladder = Ladder()
    rows: list[dict[str, Any]] = []
    for i in np.flatnonzero(c["dispatched"]):
        entry = {k: c[k][i] for k in ("dispatched_at", "deadline", "hold_s")}
        until = int(c["handled_at"][i]) or end_ms
        for level, at in ladder.thresholds({**entry, "status": "dispatched"}):
            if at > until:
                continue
            row = {
                "escalation_id": f"{int(c['case_id'][i])}:{level.value}",
                "case_id": int(c["case_id"][i]),
                "level": level.value,
                "department": str(c["department"][i]),
                "category_key": str(c["category_key"][i]),
                "grid_code": str(c["grid_code"][i]),
                "street": str(c["street"][i]),
                "dispatched_at": int(entry["dispatched_at"]),
                "deadline": int(entry["deadline"]),
                "escalated_at": at,
            }
            rows += [row, row] if rng.random() < 0.1 else [row]
    return {col.name: [r[col.name] for r in rows] for col in TABLES["escalations"]}


def _visits(rng: np.random.Generator, n: int, start_ms: int, days: int) -> dict[str, Any]:
    inspectors = [f"INS-{i:03d}" for i in range(12)]
    who = rng.integers(0, len(inspectors), n)
    return {
        "inspector_id": np.asarray(inspectors, dtype=object)[who],
        "role": np.asarray(ROLES, dtype=object)[who % len(ROLES)],
        "department": np.asarray(DEPARTMENTS, dtype=object)[who % len(DEPARTMENTS)],
        "grid_code": (g := _pick(rng, GRID_CODES, n)),
        "community": np.asarray([x[:12] for x in g], dtype=object),
        "street": np.asarray([x[:9] for x in g], dtype=object),
        "visited_at": start_ms + rng.integers(0, days * 86_400_000, n),
    }


def generate(
    n_cases: int, *, seed: int, start_ms: int = 1_688_140_800_000, days: int = 21
) -> Dataset:
    """A dataset of ``n_cases`` cases (about 3 events each) from ``start_ms`` on."""
    rng = np.random.default_rng(seed)
    c = _cases(rng, n_cases, start_ms, days)
    history = _history(rng, c)
    latest = {k: c[k] for k in _CASE_COLUMNS}
    cases = {k: np.concatenate([history[k], latest[k]]) for k in _CASE_COLUMNS}
    events, links = _events_and_links(rng, c)
    _make_late(np.random.default_rng([seed, 1]), events, links)
    tables = {
        "cases": cases,
        "events": events,
        "links": links,
        "dispatches": _dispatches(c),
        "verify_tasks": _verify_tasks(rng, c),
        "escalations": _escalations(
            np.random.default_rng([seed, 2]), c, start_ms + days * 86_400_000
        ),
        "patrol_visits": _visits(rng, max(10, n_cases // 2), start_ms, days),
    }
    return Dataset(tables)
