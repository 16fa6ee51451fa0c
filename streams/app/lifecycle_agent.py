"""Role ``lifecycle``: department updates checked against the case state machine.

``case.updates`` is keyed by case id, so a case's whole history lives in one partition
and its state in one changelog-backed Faust table. Illegal transitions, updates for
unknown cases and malformed updates go to the dead-letter topic with a reason.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson

from sinks.records import case_row
from streams.app.metrics import Metrics
from streams.cases.dispatch import DispatchOrder
from streams.cases.lifecycle import (
    CaseState,
    CaseUpdate,
    LifecycleError,
    apply_dispatch,
    apply_update,
    open_case,
)
from streams.contracts.reasons import Reason
from streams.contracts.topics import CASE_STATE, DEADLETTER, TRANSITIONS, UPDATES
from streams.settings import Settings

__all__ = ["LifecycleStep", "register"]


class LifecycleStep:
    """Pure part of the agent: one ``case.updates`` value against the current state."""

    @staticmethod
    def apply(
        state: CaseState | None, value: dict[str, Any]
    ) -> tuple[CaseState | None, list[dict[str, Any]]]:
        """``(new state, transition records)``; raises LifecycleError for bad updates."""
        if value.get("kind") == "open":
            case = value["case"]
            out: list[dict[str, Any]] = []
            if state is None:
                state = open_case(
                    int(case["case_id"]),
                    int(case["opened_at_ms"]),
                    fixed_on_spot=bool(case["fixed_on_spot"]),
                    category_key=str(case["category_key"]),
                )
                out.append(_opening(case))
            if value.get("order"):
                state, transition = apply_dispatch(state, DispatchOrder.from_dict(value["order"]))
                if transition is not None:
                    out.append(transition.to_dict())
            return state, out
        update = CaseUpdate.from_dict(value)
        state, transition = apply_update(state, update)
        return state, [transition.to_dict()] if transition is not None else []


def _opening(case: dict[str, Any]) -> dict[str, Any]:
    case_id = int(case["case_id"])
    return {
        "transition_id": f"{case_id}:0",
        "case_id": case_id,
        "seq": 0,
        "action": "open",
        "from_status": "",
        "to_status": "opened",
        "ts_ms": int(case["opened_at_ms"]),
        "actor": str(case.get("reporter") or ""),
        "department": str(case["department"]),
        "update_id": f"open:{case_id}",
        "note": "fixed on the spot" if case["fixed_on_spot"] else "",
        "deadline_ms": None,
    }


def case_row_of(state: CaseState, facts: dict[str, Any] | None) -> dict[str, Any]:
    """The ``cases`` table row for a state and the dedup facts of its opening."""
    facts = facts or {}
    grid = str(facts.get("grid_code") or "")
    return case_row(
        state,
        grid_code=grid,
        community=grid[:12],  # 6 admin + 3 street + 3 community digits
        street=grid[:9],
        lat=float(facts.get("lat", 0.0)),
        lon=float(facts.get("lon", 0.0)),
        n_events=0,  # counted from links in ClickHouse: a case keeps growing after this row
        recurrence_of=int(facts.get("recurrence_of", 0)),
    )


def _dead_letter(reason: Reason, message: str, raw: bytes, m: Any) -> bytes:
    return orjson.dumps(
        {
            "source": "department",
            "reason": reason.value,
            "message": message,
            "original": base64.b64encode(raw).decode("ascii"),
            "topic": m.topic,
            "partition": m.partition,
            "offset": m.offset,
        }
    )


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    updates = app.topic(settings.topic(UPDATES), key_serializer="raw", value_serializer="raw")
    transitions = app.topic(
        settings.topic(TRANSITIONS), key_serializer="raw", value_serializer="raw"
    )
    dead = app.topic(settings.topic(DEADLETTER), key_serializer="raw", value_serializer="raw")
    # value_type stays None (JSON as it is): Faust decodes a typed changelog value with
    # value_type.from_data, which plain dict lacks, and a restarted worker's table recovery
    # then fails on every record and never finishes
    table = app.Table("case-state", default=None, partitions=settings.partitions, key_type=str)
    rows = app.topic(settings.topic(CASE_STATE), key_serializer="raw", value_serializer="raw")

    async def lifecycle(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            raw = m.value or b""
            key = (m.key or b"").decode(errors="replace")
            try:
                value = orjson.loads(raw)
                if not isinstance(value, dict):
                    raise LifecycleError(Reason.NOT_AN_OBJECT, "update is not a JSON object")
                current = table.get(key) or {}
                state = CaseState.from_dict(current["state"]) if current else None
                facts = current.get("facts") or (value.get("case") if value.get("kind") else None)
                state, records = LifecycleStep.apply(state, value)
            except orjson.JSONDecodeError as exc:
                await dead.send(
                    key=b"department",
                    force=True,
                    value=_dead_letter(Reason.MALFORMED_JSON, str(exc), raw, m),
                )
                metrics.inc("citystream_deadletters_total", reason=Reason.MALFORMED_JSON.value)
                continue
            except LifecycleError as exc:
                await dead.send(
                    key=b"department",
                    force=True,
                    value=_dead_letter(exc.reason, exc.message, raw, m),
                )
                metrics.inc("citystream_deadletters_total", reason=exc.reason.value)
                continue
            except (KeyError, TypeError, ValueError) as exc:
                await dead.send(
                    key=b"department",
                    force=True,
                    value=_dead_letter(Reason.WRONG_TYPE, repr(exc), raw, m),
                )
                metrics.inc("citystream_deadletters_total", reason=Reason.WRONG_TYPE.value)
                continue
            if state is None or not records:
                continue
            sent = [
                await rows.send(
                    key=key.encode(), value=orjson.dumps(case_row_of(state, facts)), force=True
                )
            ]
            for record in records:
                sent.append(
                    await transitions.send(key=key.encode(), value=orjson.dumps(record), force=True)
                )
                metrics.inc("citystream_transitions_total", action=str(record["action"]))
            # The table must not record the update before its outputs are on the broker:
            # a restarted worker would take the redelivered update for a replay (no
            # transition) and the transition would be lost. The other way round, a crash
            # in between re-sends the outputs, which the sinks store once (keyed rows).
            await asyncio.gather(*sent)
            table[key] = {"state": state.to_dict(), "facts": facts}

    app.agent(updates, name="lifecycle")(lifecycle)
