"""Turn the pipeline's records into rows/columns of the stored tables (see sinks.tables).

Ids are deterministic so that replays de-duplicate: events and links by ``event_id``, cases
by ``case_id`` (with :func:`case_version` ordering its states), transitions by
``{case_id}:{seq}``, dispatches by ``case_id``, verify tasks by ``task_id`` (the settled
record replacing the open one) and dead letters by :func:`dead_letter_id`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from streams.cases.dispatch import DispatchOrder
from streams.cases.transitions import Transition
from streams.cases.verification import VerifyTask
from streams.contracts.deadletter import DeadLetter
from streams.contracts.fused import STRING_COLUMNS, FusedBatch
from streams.contracts.requests import RequestUpdate

__all__ = [
    "dead_letter_id",
    "dead_letter_row",
    "dispatch_row",
    "event_columns",
    "patrol_session_row",
    "patrol_visit_row",
    "request_update_row",
    "transition_row",
    "verify_task_row",
]


def event_columns(batch: FusedBatch, grid_codes: Sequence[str]) -> dict[str, Any]:
    """Columns of the ``events`` table for a fused batch (``grid_codes``: one per event)."""
    if len(grid_codes) != len(batch):
        raise ValueError(f"{len(grid_codes)} grid codes for {len(batch)} events")
    ev = batch.events
    columns: dict[str, Any] = {
        "event_id": ev["event_id"],
        "source": ev["source"],
        "category": ev["category"],
        "flags": ev["flags"],
        "lat": ev["lat"],
        "lon": ev["lon"],
        "event_time": ev["event_time_ms"],
        "ingest_time": ev["ingest_time_ms"],
        "device_hash": ev["device_hash"],
    }
    for name in STRING_COLUMNS:
        columns[name] = batch.strings[name].to_list()
    columns["grid_code"] = list(grid_codes)
    return columns


def _ms(value: int | None) -> int:
    return 0 if value is None else value


def transition_row(t: Transition) -> dict[str, Any]:
    """A ``case_stages`` row."""
    return {
        "transition_id": t.transition_id,
        "case_id": t.case_id,
        "seq": t.seq,
        "action": t.action.value,
        "from_status": t.from_status.value,
        "to_status": t.to_status.value,
        "ts": t.ts_ms,
        "actor": t.actor,
        "department": t.department,
        "update_id": t.update_id,
        "note": t.note,
        "deadline": _ms(t.deadline_ms),
        "result": t.result,
    }


def dispatch_row(order: DispatchOrder) -> dict[str, Any]:
    """A ``dispatches`` row."""
    return {
        "case_id": order.case_id,
        "category_key": order.category_key,
        "department": order.department,
        "urgent": int(order.urgent),
        "opened_at": order.opened_at_ms,
        "dispatched_at": order.dispatched_at_ms,
        "dispatch_due": order.dispatch_due_ms,
        "dispatched_on_time": int(order.dispatched_on_time),
        "deadline_value": order.deadline_value,
        "deadline_unit": order.deadline_unit.value,
        "deadline": order.deadline_ms,
    }


def dead_letter_id(dl: DeadLetter) -> int:
    """Stable id of a dead letter: the same raw record rejected again gets the same id."""
    h = hashlib.blake2b(digest_size=8)
    for part in (dl.source, dl.topic or "", str(dl.partition), str(dl.offset)):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    h.update(dl.original)
    return int.from_bytes(h.digest(), "little")


def dead_letter_row(dl: DeadLetter, received_at_ms: int) -> dict[str, Any]:
    """A ``dead_letters`` row; ``received_at_ms`` is the raw record's Kafka timestamp."""
    data = dl.to_dict()
    return {
        "dl_id": dead_letter_id(dl),
        "source": dl.source,
        "reason": data["reason"],
        "message": dl.message,
        "original": data["original"],
        "topic": dl.topic or "",
        "partition": -1 if dl.partition is None else dl.partition,
        "offset": -1 if dl.offset is None else dl.offset,
        "received_at": received_at_ms,
    }


def request_update_row(update: RequestUpdate) -> dict[str, Any]:
    """A ``request_updates`` row (times in ms, as the writer takes them)."""
    return {
        "update_id": update.update_id,
        "event_id": update.event_id,
        "request_id": update.request_id,
        "status": update.status,
        "status_notes": update.status_notes,
        "description": update.description,
        "updated_at": update.updated_at_ms,
        "received_at": update.received_at_ms,
    }


def verify_task_row(task: VerifyTask) -> dict[str, Any]:
    """A ``verify_tasks`` row (times in ms, as the writer takes them)."""
    return {
        "task_id": task.task_id,
        "version": task.version,
        "case_id": task.case_id,
        "rework_round": task.rework_round,
        "supervisor": task.supervisor,
        "basis": task.basis,
        "department": task.department,
        "category_key": task.category_key,
        "grid_code": task.grid_code,
        "street": task.street,
        "area": task.area,
        "issued_at": task.issued_at_ms,
        "due_at": task.due_at_ms,
        "status": task.status.value,
        "settled_at": _ms(task.settled_at_ms),
        "note": task.note,
    }


def patrol_session_row(session: dict[str, Any]) -> dict[str, Any]:
    """A ``patrol_sessions`` row of a ``patrol.sessions`` record (its visits go to
    ``patrol.visits``)."""
    return {
        "session_id": session["session_id"],
        "inspector_id": session["inspector_id"],
        "level": session["level"],
        "department": session["department"],
        "device_id": session["device_id"],
        "started_at": session["started_at_ms"],
        "ended_at": session["ended_at_ms"],
        "points": session["points"],
        "matched_points": session["matched_points"],
        "metres": session["metres"],
        "segments": len({v["segment_id"] for v in session["visits"]}),
    }


def patrol_visit_row(visit: dict[str, Any]) -> dict[str, Any]:
    """A ``patrol_segment_visits`` row of a ``patrol.visits`` record."""
    row = {k: visit[k] for k in _VISIT_FIELDS}
    row["started_at"], row["ended_at"] = visit["started_at_ms"], visit["ended_at_ms"]
    return row


_VISIT_FIELDS = (
    "visit_id",
    "session_id",
    "inspector_id",
    "level",
    "department",
    "segment_id",
    "street_id",
    "street_name",
    "grid_code",
    "metres",
    "points",
)
