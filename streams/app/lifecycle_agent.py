"""Role ``lifecycle``: department and supervisor updates checked against the case state
machine.

``case.updates`` is keyed by case id, so a case's whole history lives in one partition
and its state in one changelog-backed Faust table. Each transition goes to
``case.transitions`` and the case's new row to ``case.state``; a case reaching ``handled``
gets a verify task on ``verify.tasks`` (settled there again when verified or voided).
A return (退单) is re-dispatched here at once, by the centre: to the department the return
names, else to the category's by rule (a rule pointing back to the returning department
makes the return illegal); the new order goes to ``dispatch`` (keyed by department) and the
case entry keeps the order in force (``"order"``), whose return window and facts the next
return needs. An unsatisfied callback (回访) reopens the case here by the centre's rule
(:func:`after_callback`). Illegal transitions, verifications by the wrong supervisor,
returns after the limit or to unknown departments, callbacks of cases not from the hotline
or not closed, updates for unknown cases and malformed updates go to the dead-letter topic
with a reason; nothing else changes then.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.app.metrics import Metrics
from streams.cases.calendar import WorkCalendar
from streams.cases.dispatch import (
    CategoryRule,
    DispatchError,
    DispatchLimits,
    DispatchOrder,
    make_redispatch,
    rules_by_key,
)
from streams.cases.lifecycle import (
    CaseState,
    after_callback,
    apply_dispatch,
    apply_redispatch,
    apply_update,
    assign_verifier,
    open_case,
)
from streams.cases.records import case_state_record
from streams.cases.transitions import TERMINAL, CaseUpdate, LifecycleError, Transition
from streams.cases.verification import VerifyDesk, VerifyTask, settle_task
from streams.contracts.closures import Closure, encode_closures
from streams.contracts.fused import Source
from streams.contracts.reasons import Reason
from streams.contracts.topics import (
    CASE_STATE,
    DEADLETTER,
    DISPATCH,
    FUSED,
    TRANSITIONS,
    UPDATES,
    VERIFY_TASKS,
)
from streams.dedup.build import make_engine
from streams.settings import Settings

# the dedup tiles that hold a case, from its opening facts (lat, lon, category_key)
CaseTiles = Callable[[dict[str, Any]], list[int]]

__all__ = ["LifecycleStep", "Outcome", "register"]


@dataclass
class Outcome:
    """What one ``case.updates`` message leads to: the case's new table entry and the
    records to send (logical topic, value), or the reason it goes to the dead letters."""

    entry: dict[str, Any] | None = None  # None: the table stays as it is
    sends: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: tuple[Reason, str] | None = None
    # closure frames for ``events.fused``: (dedup tile, frame)
    closures: list[tuple[int, bytes]] = field(default_factory=list)


class LifecycleStep:
    """Pure part of the agent: one ``case.updates`` value against the case's table entry
    (``{"state", "facts", "task", "order"}``: lifecycle state, opening facts, open verify
    task, dispatch order in force)."""

    def __init__(
        self,
        calendar: WorkCalendar,
        desk: VerifyDesk,
        rules: dict[str, CategoryRule],
        limits: DispatchLimits,
        case_tiles: CaseTiles | None = None,
    ) -> None:
        self.calendar, self.desk, self.rules, self.limits = calendar, desk, rules, limits
        self.departments = frozenset(r.department for r in rules.values())
        self.case_tiles = case_tiles  # None: closures do not go back to dedup

    @classmethod
    def from_settings(cls, settings: Settings) -> LifecycleStep:
        engine = make_engine(settings)  # its category table and tile routing, loaded once
        table = engine.table

        def case_tiles(facts: dict[str, Any]) -> list[int]:
            category = table.id_of(str(facts["category_key"]))
            return engine.case_tiles(float(facts["lat"]), float(facts["lon"]), category)

        return cls(
            WorkCalendar.from_settings(settings),
            VerifyDesk.from_settings(settings),
            rules_by_key(table),
            DispatchLimits.from_settings(settings),
            case_tiles if settings.pipeline.dedup_closures else None,
        )

    def closure_frames(
        self, facts: dict[str, Any] | None, records: list[dict[str, Any]]
    ) -> list[tuple[int, bytes]]:
        """A frame per dedup tile holding the case for each close or void in ``records``.

        A case reopened after a callback stays closed in dedup: a report after the close
        is a recurrence of it, whatever the centre decides later.
        """
        if self.case_tiles is None or not facts:
            return []
        # Never before the opening report's arrival (a case fixed on the spot is closed at
        # its event time): dedup places a closure among the events by its time, and every
        # tile must have taken the opening event in before the closure comes due.
        opened = int(facts.get("ingest_time_ms") or 0)
        closures = [
            Closure(max(int(r["ts_ms"]), opened), int(r["case_id"]), r["to_status"] == "voided")
            for r in records
            if r["to_status"] in TERMINAL
        ]
        if not closures:
            return []
        frame = encode_closures(closures)
        return [(tile, frame) for tile in self.case_tiles(facts)]

    def redispatch(
        self, state: CaseState, value: dict[str, Any], order: dict[str, Any] | None
    ) -> tuple[CaseState, dict[str, Any], DispatchOrder]:
        """The centre's re-dispatch of ``state``'s case just returned by ``value``:
        ``(new state, its transition record, the new order)``."""
        if order is None:
            raise LifecycleError(
                Reason.ILLEGAL_TRANSITION, f"case {state.case_id}: no dispatch order to return"
            )
        first = DispatchOrder.from_dict(order)
        rule = self.rules[state.category_key]
        named = str(value.get("to_department") or "")
        target = named or rule.department
        if target not in self.departments:
            raise LifecycleError(
                Reason.UNKNOWN_DEPARTMENT, f"case {state.case_id}: no department {target!r}"
            )
        if target == first.department:
            raise LifecycleError(
                Reason.ILLEGAL_TRANSITION,
                f"case {state.case_id}: the return names no other department and the rule "
                f"of {rule.key} points back to {target!r}",
            )
        returned_at = state.last_ts_ms
        try:
            new_order = make_redispatch(
                first, rule, target, self.calendar, returned_at,
                limits=self.limits, round_=state.return_count,
            )  # fmt: skip
        except DispatchError as exc:
            raise LifecycleError(Reason.ILLEGAL_TRANSITION, str(exc)) from exc
        note = f"returned by {first.department}: {value.get('note', '')}"
        state, transition = apply_redispatch(state, new_order, note)
        assert transition is not None  # a fresh return always leads to a fresh round
        return state, transition.to_dict(), new_order

    def advance(
        self, state: CaseState | None, value: dict[str, Any]
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
                    hotline=int(case["source"]) == Source.HOTLINE,
                )
                out.append(_opening(case))
            if value.get("order"):
                state, transition = apply_dispatch(state, DispatchOrder.from_dict(value["order"]))
                if transition is not None:
                    out.append(transition.to_dict())
            return state, out
        update = CaseUpdate.from_dict(value)
        state, transition = apply_update(state, update, calendar=self.calendar)
        if transition is None:
            return state, []
        steps: list[Transition] = [transition]
        state, reopened = after_callback(state, transition)  # the centre's rule
        steps.extend([reopened] if reopened is not None else [])
        return state, [t.to_dict() for t in steps]

    def apply(self, current: dict[str, Any] | None, value: Any) -> Outcome:
        """The outcome of one decoded message; raises LifecycleError for bad updates."""
        if not isinstance(value, dict):
            raise LifecycleError(Reason.NOT_AN_OBJECT, "update is not a JSON object")
        current = current or {}
        state = CaseState.from_dict(current["state"]) if current else None
        facts = current.get("facts") or (value.get("case") if value.get("kind") else None)
        task = VerifyTask.from_dict(current["task"]) if current.get("task") else None
        order = current.get("order") or (value.get("order") if value.get("kind") else None)
        state, records = self.advance(state, value)
        if state is None or not records:
            return Outcome()
        orders: list[tuple[str, dict[str, Any]]] = []
        if records[-1]["action"] == "return":
            state, record, new_order = self.redispatch(state, value, order)
            records.append(record)
            order = new_order.to_dict()
            orders.append((DISPATCH, order))
        sends: list[tuple[str, dict[str, Any]]] = [(TRANSITIONS, r) for r in records]
        for record in records:
            settled = settle_task(task, record) if task is not None else None
            if settled is not None:
                sends.append((VERIFY_TASKS, settled.to_dict()))
                task = None
            if record["to_status"] == "handled":
                task = self.desk.issue(state, facts or {})
                state = assign_verifier(state, task.supervisor)
                sends.append((VERIFY_TASKS, task.to_dict()))
        sends.insert(0, (CASE_STATE, case_state_record(state, facts)))
        sends.extend(orders)
        open_task = None if task is None else task.to_dict()
        entry = {"state": state.to_dict(), "facts": facts, "task": open_task, "order": order}
        return Outcome(entry=entry, sends=sends, closures=self.closure_frames(facts, records))

    def handle(self, current: dict[str, Any] | None, raw: bytes) -> Outcome:
        """:meth:`apply` on the raw message bytes; every bad message becomes a rejection."""
        try:
            return self.apply(current, orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            return Outcome(rejected=(Reason.MALFORMED_JSON, str(exc)))
        except LifecycleError as exc:
            return Outcome(rejected=(exc.reason, exc.message))
        except (KeyError, TypeError, ValueError) as exc:
            return Outcome(rejected=(Reason.WRONG_TYPE, repr(exc)))


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
    step = LifecycleStep.from_settings(settings)
    raw_topic = {"key_serializer": "raw", "value_serializer": "raw"}
    updates = app.topic(settings.kafka.topic(UPDATES), **raw_topic)
    dead = app.topic(settings.kafka.topic(DEADLETTER), **raw_topic)
    outputs = {
        name: app.topic(settings.kafka.topic(name), **raw_topic)
        for name in (CASE_STATE, TRANSITIONS, VERIFY_TASKS, DISPATCH, FUSED)
    }
    # value_type stays None (JSON as it is): Faust decodes a typed changelog value with
    # value_type.from_data, which plain dict lacks, and a restarted worker's table recovery
    # then fails on every record and never finishes
    table = app.Table(
        "case-state", default=None, partitions=settings.kafka.partitions, key_type=str
    )

    async def lifecycle(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            raw = m.value or b""
            key = (m.key or b"").decode(errors="replace")
            outcome = step.handle(table.get(key), raw)
            if outcome.rejected is not None:
                reason, message = outcome.rejected
                value = _dead_letter(reason, message, raw, m)
                # the update's time: the dead letter's month partition (docs/schema.md)
                await dead.send(key=b"department", force=True, value=value, timestamp=m.timestamp)
                metrics.inc("citystream_deadletters_total", reason=reason.value)
                continue
            if outcome.entry is None:
                continue
            sent = []
            for name, record in outcome.sends:
                value = orjson.dumps(record)
                # dispatch orders are keyed by department, like the dispatch agent's
                out_key = record["department"] if name == DISPATCH else key
                sent.append(await outputs[name].send(key=out_key.encode(), value=value, force=True))
                if name == TRANSITIONS:
                    metrics.inc("citystream_transitions_total", action=str(record["action"]))
                elif name == VERIFY_TASKS:
                    metrics.inc("citystream_verify_tasks_total", status=str(record["status"]))
                else:
                    metrics.inc("citystream_dispatches_total", department=record["department"])
            for tile, frame in outcome.closures:
                fused = outputs[FUSED]
                sent.append(await fused.send(key=str(tile).encode(), value=frame, force=True))
                metrics.inc("citystream_closures_sent_total")
            # The table must not record the update before its outputs are on the broker:
            # a restarted worker would take the redelivered update for a replay (no
            # transition) and the transition would be lost. The other way round, a crash
            # in between re-sends the outputs, which the sinks store once (keyed rows).
            await asyncio.gather(*sent)
            table[key] = outcome.entry

    app.agent(updates, name="lifecycle")(lifecycle)
