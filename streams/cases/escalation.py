"""Escalation (催办, 督办 and up the ladder) of cases running out of their handling time.

A case is *with its department* while dispatched, signed or sent back for rework; only then
does its handling clock run. Its time limit is ``deadline - dispatched_at - hold``
(the deadline was moved on by every finished hold, and is 0 while on hold: the clock is
paused, nothing escalates). The ladder, thresholds from :class:`EscalationSettings`:

* ``remind`` (催办): ``remind_share`` of the limit used (default 80 %);
* ``supervise`` (督办): past the deadline;
* ``department_head``: overdue by ``department_head_overdue`` of the limit (50 %);
* ``district_leader``: overdue by ``district_leader_overdue`` of the limit (100 %).

Each level is raised once per case: its escalation id is ``"{case_id}:{level}"`` and the
entry remembers the levels raised. Every escalation is dated by the moment its threshold
was crossed, not by when the pipeline noticed.

"Now" is the centre's clock as ticks in ``case.state`` (:mod:`streams.contracts.clock`):
a record raises the levels its case reached under its previous state before this
transition (:func:`on_record`), a tick raises what every case of its partition reached
by the tick's time (:func:`on_clock`). Nothing else moves the clock: a clock read from the
records (the latest opening seen) ran ahead of department answers still in flight, so
whether a level was raised depended on partitioning and speed. With ticks, the
escalations are a function of each partition's records and ticks, and a tick is written
behind what the centre knew at its time: the same however the topics are partitioned,
however fast they are read and wherever a worker restarted.

A closed or voided case's entry is dropped at the first tick more than the redelivery
horizon after its last transition (the entries a tick goes through stay those of cases
still running). A case can come back after that: an unsatisfied callback (回访) reopens it, with
its deadline long past. So the levels a dropped case had raised are *remembered* (its
version and levels, nothing else) and a case that comes back starts from them: each level
stays raised once per case, however late the case returns.
Pure functions on plain dicts (the agent keeps the entries in changelog-backed tables).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from streams.cases.lifecycle import Status
from streams.settings import Settings

__all__ = [
    "ESCALATING",
    "Change",
    "Ladder",
    "Level",
    "apply_changes",
    "entry_from_state",
    "escalation_id",
    "on_clock",
    "on_record",
    "on_state",
    "on_tick",
    "prunable",
    "record_time",
    "remembered_of",
]


class Level(StrEnum):
    REMIND = "remind"  # 催办
    SUPERVISE = "supervise"  # 督办
    DEPARTMENT_HEAD = "department_head"  # 部门负责人
    DISTRICT_LEADER = "district_leader"  # 区领导


# statuses in which the department holds the case and its handling clock runs
ESCALATING = frozenset({Status.DISPATCHED, Status.SIGNED, Status.REWORK})
_TERMINAL = frozenset({Status.CLOSED, Status.VOIDED})
# case.state time columns: the latest is the time of the transition the record follows
_TIMES = ("opened_at", "dispatched_at", "signed_at", "handled_at", "closed_at", "voided_at")


@dataclass(frozen=True, slots=True)
class Change:
    """What a record does to one case: its new entry (None: dropped), the escalations to
    send first and, for a dropped case that had raised levels, what to remember of it."""

    key: Any
    entry: dict[str, Any] | None
    sends: list[dict[str, Any]] = field(default_factory=list)
    remembered: dict[str, Any] | None = None


def escalation_id(case_id: int, level: Level) -> str:
    return f"{case_id}:{level.value}"


@dataclass(frozen=True, slots=True)
class Ladder:
    """The thresholds, as shares of a case's time limit."""

    remind_share: float = 0.8
    department_head_overdue: float = 0.5
    district_leader_overdue: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.remind_share <= 1:
            raise ValueError(f"remind_share {self.remind_share} not in (0, 1]")
        if not 0 < self.department_head_overdue < self.district_leader_overdue:
            raise ValueError("need 0 < department_head_overdue < district_leader_overdue")

    @classmethod
    def from_settings(cls, settings: Settings) -> Ladder:
        e = settings.escalation
        return cls(e.remind_share, e.department_head_overdue, e.district_leader_overdue)

    def thresholds(self, entry: Mapping[str, Any]) -> list[tuple[Level, int]]:
        """``(level, epoch ms it is reached)`` for a case with its department, lowest
        first; none for a case without a running clock (not dispatched, on hold, done)."""
        deadline = int(entry["deadline"])
        if Status(entry["status"]) not in ESCALATING or deadline <= 0:
            return []
        limit = deadline - int(entry["dispatched_at"]) - int(entry["hold_s"]) * 1000
        limit = max(limit, 1)  # a deadline at or before the dispatch: overdue at once
        return [
            (Level.REMIND, deadline - round((1 - self.remind_share) * limit)),
            (Level.SUPERVISE, deadline + 1),  # overdue: strictly after the deadline
            (Level.DEPARTMENT_HEAD, deadline + round(self.department_head_overdue * limit)),
            (Level.DISTRICT_LEADER, deadline + round(self.district_leader_overdue * limit)),
        ]


def record_time(record: Mapping[str, Any]) -> int:
    """The latest time on a ``case.state`` record (epoch ms)."""
    return max(int(record.get(name) or 0) for name in _TIMES)


def entry_from_state(record: Mapping[str, Any], raised: Iterable[str] = ()) -> dict[str, Any]:
    """A table entry from a ``case.state`` record and the levels already raised."""
    keep = ("department", "category_key", "grid_code", "street")
    entry: dict[str, Any] = {k: str(record[k]) for k in keep}
    entry["case_id"] = int(record["case_id"])
    entry["status"] = Status(record["status"]).value  # ValueError for an unknown status
    for k in ("version", "dispatched_at", "deadline", "hold_s"):
        entry[k] = int(record[k])
    entry["ts"] = record_time(record)  # the last transition: entries are pruned by it
    entry["raised"] = sorted(set(raised))
    return entry


def _due(ladder: Ladder, entry: dict[str, Any], until: int) -> list[dict[str, Any]]:
    """Escalation records of the levels reached by ``until`` and not raised yet."""
    out = []
    for level, at in ladder.thresholds(entry):
        if at <= until and level.value not in entry["raised"]:
            out.append(
                {
                    "escalation_id": escalation_id(int(entry["case_id"]), level),
                    "case_id": int(entry["case_id"]),
                    "level": level.value,
                    "department": entry["department"],
                    "category_key": entry["category_key"],
                    "grid_code": entry["grid_code"],
                    "street": entry["street"],
                    "dispatched_at": entry["dispatched_at"],
                    "deadline": entry["deadline"],
                    "escalated_at": at,
                }
            )
    return out


def _with_raised(entry: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    return {**entry, "raised": sorted({*entry["raised"], *(r["level"] for r in records)})}


def remembered_of(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """What is kept of a dropped entry: its version and levels, if it raised any."""
    if not entry["raised"]:
        return None
    return {"version": int(entry["version"]), "raised": list(entry["raised"])}


def on_state(
    ladder: Ladder,
    entry: dict[str, Any] | None,
    record: Mapping[str, Any],
    remembered: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A ``case.state`` record against the case's entry: ``(new entry, escalations)``.

    The levels the case reached under its previous state before this transition are
    raised first (those no tick had raised yet). Older records
    (redelivered after a restart) change nothing. A closed or voided case keeps a small
    entry (no thresholds) until dropped, so a redelivered older record cannot bring it
    back; after that, ``remembered`` (:func:`remembered_of`, for a case without entry)
    keeps its levels, and its version turns older records away.
    """
    if entry is not None and int(record["version"]) < entry["version"]:
        return entry, []
    if entry is None and remembered is not None:
        if int(record["version"]) < int(remembered["version"]):
            return None, []
        return entry_from_state(record, remembered["raised"]), []
    raised: list[dict[str, Any]] = []
    if entry is not None:
        raised = _due(ladder, entry, record_time(record))
    new = entry_from_state(
        record, [*(entry or {}).get("raised", ()), *(r["level"] for r in raised)]
    )
    return new, raised


def on_tick(
    ladder: Ladder, entry: dict[str, Any], now: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The levels ``entry`` has reached by ``now``: ``(new entry, escalations)``."""
    records = _due(ladder, entry, now)
    return (_with_raised(entry, records) if records else entry), records


def prunable(entry: Mapping[str, Any], now: int, horizon_ms: int) -> bool:
    """Whether a closed or voided case's entry may go: its last transition is more than
    ``horizon_ms`` behind the clock, beyond any redelivery of its older records."""
    return Status(entry["status"]) in _TERMINAL and now - int(entry["ts"]) > horizon_ms


def on_record(
    ladder: Ladder,
    entries: Mapping[Any, dict[str, Any]],
    key: Any,
    record: Mapping[str, Any],
    remembered: Mapping[Any, Mapping[str, Any]] | None = None,
) -> list[Change]:
    """One ``case.state`` record against its partition's ``entries`` (and what is
    remembered of the partition's dropped cases, :func:`remembered_of`): the change to
    its own case, if any (:func:`on_state`)."""
    old = entries.get(key)
    kept = remembered.get(key) if remembered is not None and old is None else None
    entry, raised = on_state(ladder, old, record, kept)
    if entry is None or entry is old or entry == old:
        return []
    return [Change(key, entry, raised)]


def on_clock(
    ladder: Ladder, entries: Mapping[Any, dict[str, Any]], now: int, horizon_ms: int
) -> list[Change]:
    """A clock tick at ``now`` against its partition's ``entries``: every case's levels
    reached by then (:func:`on_tick`), and the closed cases past the horizon dropped. An
    older tick than one seen before raises nothing new (each level is raised once)."""
    changes: list[Change] = []
    for key, entry in entries.items():
        if prunable(entry, now, horizon_ms):
            changes.append(Change(key, None, [], remembered_of(entry)))
            continue
        new, sends = on_tick(ladder, entry, now)
        if sends:
            changes.append(Change(key, new, sends))
    return changes


def apply_changes(
    entries: MutableMapping[Any, dict[str, Any]],
    remembered: MutableMapping[Any, dict[str, Any]],
    changes: Iterable[Change],
) -> list[dict[str, Any]]:
    """Apply ``changes`` to plain dicts (the agent's tables, offline); the escalations."""
    out: list[dict[str, Any]] = []
    for change in changes:
        if change.entry is None:
            entries.pop(change.key, None)
        else:
            entries[change.key] = change.entry
        if change.remembered is not None:
            remembered[change.key] = change.remembered
        out.extend(change.sends)
    return out
