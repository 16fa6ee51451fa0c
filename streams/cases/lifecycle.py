"""The case state machine: 立案 → 派遣 → 签收 → 处置反馈 → 核查结案, with 返工, 缓办 and 作废.

:data:`TRANSITIONS` is the one table of what may happen. Department updates arrive on the
``case.updates`` topic as JSON (:class:`CaseUpdate`); :func:`apply_update` validates one
against the case's :class:`CaseState` and returns the new state plus the :class:`Transition`
to store, or raises :class:`LifecycleError` with a dead-letter :class:`Reason`. A replayed
update (same ``update_id``) is a no-op, and transition ids are ``"{case_id}:{seq}"``, so
replays never double-count. States are plain JSON-compatible dicts via ``to_dict``.

Verification (核查) may only come from the supervisor the case's verify task went to
(:func:`assign_verifier`, see :mod:`streams.cases.verification`) or from the centre. A hold
(缓办) pauses the handling deadline: while on hold no deadline is in force, and the resume
moves it on by the time spent on hold (:meth:`WorkCalendar.resume_deadline`).

A return (退单) comes from the department the case is with, before it reported handling and
no later than the order's ``return_due_ms``, with the reason in ``note`` and optionally the
department it belongs to (``to_department``). The case is then ``returned`` until the
centre's re-dispatch (:func:`apply_redispatch`, the lifecycle agent does it at once), which
restarts the handling deadline; see :mod:`streams.cases.dispatch`.

A callback (回访) records the citizen's verdict on a closed hotline case, once per closure.
An unsatisfied one reopens the case once (:func:`after_callback`: closed → rework, the
department's next feedback is verified again); the deadline stays the original one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from streams.cases.calendar import DeadlineUnit
from streams.cases.dispatch import DispatchOrder
from streams.contracts.reasons import Reason

if TYPE_CHECKING:
    from streams.cases.calendar import WorkCalendar

__all__ = [
    "CENTRE_ACTIONS",
    "CENTRE_ACTOR",
    "MAX_REOPENS",
    "TERMINAL",
    "TRANSITIONS",
    "UPDATE_ACTIONS",
    "Action",
    "CallbackResult",
    "CaseState",
    "CaseUpdate",
    "LifecycleError",
    "Status",
    "Transition",
    "after_callback",
    "apply_dispatch",
    "apply_redispatch",
    "apply_update",
    "assign_verifier",
    "open_case",
]

CENTRE_ACTOR = "centre"  # actor recorded for the dispatch step


class Status(StrEnum):
    OPENED = "opened"  # 立案
    DISPATCHED = "dispatched"  # 派遣
    SIGNED = "signed"  # 签收
    HANDLED = "handled"  # 处置反馈 (department reported back)
    CLOSED = "closed"  # 核查结案
    REWORK = "rework"  # 返工: verification failed, back to the department
    ON_HOLD = "on_hold"  # 缓办
    VOIDED = "voided"  # 作废
    RETURNED = "returned"  # 退单: sent back by the department, waiting for the re-dispatch


class Action(StrEnum):
    DISPATCH = "dispatch"  # by the centre's dispatch agent, never on case.updates
    SIGN = "sign"
    HANDLE = "handle"
    VERIFY_OK = "verify_ok"
    VERIFY_FAIL = "verify_fail"
    HOLD = "hold"
    RESUME = "resume"
    VOID = "void"
    CLOSE_ON_SPOT = "close_on_spot"  # patrol fixed it on the spot (needs fixed_on_spot)
    RETURN = "return"  # 退单 by the department (needs a reason, within the return limit)
    REDISPATCH = "redispatch"  # by the centre after a return, never on case.updates
    CALLBACK = "callback"  # 回访 of a closed hotline case (needs a result)
    REOPEN = "reopen"  # by the centre after an unsatisfied callback, never on case.updates


class CallbackResult(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意
    UNREACHABLE = "unreachable"  # 联系不上


MAX_REOPENS = 1  # unsatisfied callbacks that reopen a case; later ones are only recorded
CENTRE_ACTIONS = frozenset({Action.DISPATCH, Action.REDISPATCH, Action.REOPEN})
UPDATE_ACTIONS = frozenset(Action) - CENTRE_ACTIONS
TERMINAL = frozenset({Status.CLOSED, Status.VOIDED})

_S, _A = Status, Action
# (from, action) -> to. ``None`` means "back to the status the case was held from".
TRANSITIONS: Mapping[tuple[Status, Action], Status | None] = MappingProxyType(
    {
        (_S.OPENED, _A.DISPATCH): _S.DISPATCHED,
        (_S.OPENED, _A.CLOSE_ON_SPOT): _S.CLOSED,
        (_S.OPENED, _A.VOID): _S.VOIDED,
        (_S.DISPATCHED, _A.SIGN): _S.SIGNED,
        (_S.DISPATCHED, _A.HOLD): _S.ON_HOLD,
        (_S.DISPATCHED, _A.VOID): _S.VOIDED,
        (_S.DISPATCHED, _A.RETURN): _S.RETURNED,
        (_S.SIGNED, _A.HANDLE): _S.HANDLED,
        (_S.SIGNED, _A.HOLD): _S.ON_HOLD,
        (_S.SIGNED, _A.VOID): _S.VOIDED,
        (_S.SIGNED, _A.RETURN): _S.RETURNED,
        (_S.RETURNED, _A.REDISPATCH): _S.DISPATCHED,
        (_S.RETURNED, _A.VOID): _S.VOIDED,
        (_S.CLOSED, _A.CALLBACK): _S.CLOSED,
        (_S.CLOSED, _A.REOPEN): _S.REWORK,
        (_S.HANDLED, _A.VERIFY_OK): _S.CLOSED,
        (_S.HANDLED, _A.VERIFY_FAIL): _S.REWORK,
        (_S.HANDLED, _A.VOID): _S.VOIDED,
        (_S.REWORK, _A.SIGN): _S.SIGNED,
        (_S.REWORK, _A.HANDLE): _S.HANDLED,
        (_S.REWORK, _A.VOID): _S.VOIDED,
        (_S.ON_HOLD, _A.RESUME): None,
        (_S.ON_HOLD, _A.VOID): _S.VOIDED,
    }
)


class LifecycleError(ValueError):
    """An update that cannot be applied; ``reason`` goes to the dead-letter record."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


def _to_ms(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise LifecycleError(Reason.BAD_TIME, f"ts {value!r} is not ISO 8601") from exc
        if parsed.tzinfo is None:
            raise LifecycleError(Reason.BAD_TIME, f"ts {value!r} has no time zone")
        return round(parsed.timestamp() * 1000)
    raise LifecycleError(Reason.WRONG_TYPE, f"ts must be epoch ms or ISO 8601, got {value!r}")


def _case_id(value: Any) -> int:
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise LifecycleError(Reason.WRONG_TYPE, f"case_id must be a non-negative integer: {value!r}")


def _text(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise LifecycleError(Reason.MISSING_FIELD, f"update lacks {name!r}")
        return ""
    if not isinstance(value, str):
        raise LifecycleError(Reason.WRONG_TYPE, f"update field {name!r} must be a string")
    return value


@dataclass(frozen=True)
class CaseUpdate:
    """One department update (the ``case.updates`` record)."""

    update_id: str
    case_id: int
    action: Action
    actor: str
    department: str
    ts_ms: int
    note: str = ""  # free text; for a return, its reason (required)
    to_department: str = ""  # a return's answer to "whose case is it" ("": by the rule)
    result: str = ""  # a callback's CallbackResult

    def to_dict(self) -> dict[str, Any]:
        data = {
            "update_id": self.update_id,
            "case_id": self.case_id,
            "action": self.action.value,
            "actor": self.actor,
            "department": self.department,
            "ts": self.ts_ms,
            "note": self.note,
        }
        if self.to_department:
            data["to_department"] = self.to_department
        if self.result:
            data["result"] = self.result
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseUpdate:
        """Validate a decoded ``case.updates`` JSON object."""
        for name in ("update_id", "case_id", "action", "actor", "department", "ts"):
            if data.get(name) is None:
                raise LifecycleError(Reason.MISSING_FIELD, f"update lacks {name!r}")
        action = _text(data, "action")
        if action not in UPDATE_ACTIONS:
            allowed = "|".join(sorted(a.value for a in UPDATE_ACTIONS))
            raise LifecycleError(
                Reason.ILLEGAL_TRANSITION, f"action must be {allowed}, got {action!r}"
            )
        note = _text(data, "note", required=False)
        if action == Action.RETURN and not note.strip():
            raise LifecycleError(Reason.MISSING_FIELD, "a return needs its reason in 'note'")
        result = _text(data, "result", required=action == Action.CALLBACK)
        if action == Action.CALLBACK and result not in set(CallbackResult):
            allowed = "|".join(r.value for r in CallbackResult)
            raise LifecycleError(Reason.WRONG_TYPE, f"result must be {allowed}, got {result!r}")
        return cls(
            update_id=_text(data, "update_id"),
            case_id=_case_id(data["case_id"]),
            action=Action(action),
            actor=_text(data, "actor"),
            department=_text(data, "department"),
            ts_ms=_to_ms(data["ts"]),
            note=note,
            to_department=_text(data, "to_department", required=False),
            result=result if action == Action.CALLBACK else "",
        )


@dataclass(frozen=True)
class Transition:
    """One stored step of a case; ``transition_id`` is stable across replays."""

    transition_id: str
    case_id: int
    seq: int
    action: Action
    from_status: Status
    to_status: Status
    ts_ms: int
    actor: str
    department: str
    update_id: str
    note: str
    deadline_ms: int | None  # the handling deadline in force (None before dispatch, on hold)
    result: str = ""  # a callback's result

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(
            action=self.action.value,
            from_status=self.from_status.value,
            to_status=self.to_status.value,
        )
        return data


@dataclass(frozen=True)
class CaseState:
    """Everything the lifecycle needs to know about one case (a Faust table value)."""

    case_id: int
    status: Status
    opened_at_ms: int
    last_ts_ms: int
    fixed_on_spot: bool = False
    seq: int = 0
    department: str = ""
    category_key: str = ""
    urgent: bool = False
    dispatched_at_ms: int | None = None
    deadline_ms: int | None = None
    signed_at_ms: int | None = None
    first_handled_at_ms: int | None = None
    handled_at_ms: int | None = None
    closed_at_ms: int | None = None
    voided_at_ms: int | None = None
    held_from: Status | None = None
    held_since_ms: int | None = None
    hold_ms: int = 0  # clock time spent on hold (缓办), for KPIs that pause the clock
    rework_count: int = 0
    deadline_unit: str = ""  # of the time limit (DeadlineUnit), set by the dispatch
    verifier: str = ""  # supervisor of the open verify task ("" when none is open)
    return_count: int = 0  # 退单 so far (each one led to a re-dispatch)
    return_due_ms: int | None = None  # of the dispatch in force (None: no return allowed)
    redispatched_at_ms: int | None = None  # of the last re-dispatch
    hotline: bool = False  # reported on the hotline (12345): called back after closure
    called_back_at_ms: int | None = None  # callback since the last closure
    reopen_count: int = 0  # reopenings after unsatisfied callbacks
    applied: tuple[str, ...] = ()  # update ids already applied (idempotency)

    @property
    def deadline_in_force(self) -> int | None:
        """The handling deadline, or None before the dispatch and while on hold (paused)."""
        return None if self.status is Status.ON_HOLD else self.deadline_ms

    @property
    def deadline_on_clock(self) -> bool:
        """Whether the time limit runs on clock time (as :meth:`WorkCalendar.deadline_for`)."""
        return self.urgent or self.deadline_unit == DeadlineUnit.CLOCK_HOURS

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["held_from"] = None if self.held_from is None else self.held_from.value
        data["applied"] = list(self.applied)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseState:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"case state has unknown fields {sorted(unknown)}")
        values = dict(data)
        try:
            values["status"] = Status(values["status"])
            held = values.get("held_from")
            values["held_from"] = None if held is None else Status(held)
            values["applied"] = tuple(values.get("applied", ()))
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad case state {dict(data)!r}: {exc}") from exc


def open_case(
    case_id: int,
    opened_at_ms: int,
    *,
    fixed_on_spot: bool = False,
    category_key: str = "",
    hotline: bool = False,
) -> CaseState:
    """The state of a newly opened case (立案)."""
    return CaseState(
        case_id=case_id,
        status=Status.OPENED,
        opened_at_ms=opened_at_ms,
        last_ts_ms=opened_at_ms,
        fixed_on_spot=fixed_on_spot,
        category_key=category_key,
        hotline=hotline,
    )


def _illegal(state: CaseState, message: str) -> LifecycleError:
    return LifecycleError(Reason.ILLEGAL_TRANSITION, f"case {state.case_id}: {message}")


def _check(state: CaseState, update: CaseUpdate) -> Status:
    """The target status of ``update``, or the reason it is illegal."""
    key = (state.status, update.action)
    if key not in TRANSITIONS:
        raise _illegal(state, f"cannot {update.action.value} a case that is {state.status.value}")
    if update.action is Action.CLOSE_ON_SPOT and not state.fixed_on_spot:
        raise _illegal(state, "close_on_spot needs a patrol report fixed on the spot")
    if update.ts_ms < state.last_ts_ms:
        raise _illegal(
            state,
            f"{update.action.value} at {update.ts_ms} is older than the last step "
            f"at {state.last_ts_ms} (out of order)",
        )
    if state.department and update.department != state.department:
        raise _illegal(
            state, f"update from {update.department!r}, case is with {state.department!r}"
        )
    if update.action is Action.RETURN:
        _check_return(state, update)
    if update.action is Action.CALLBACK and not state.hotline:
        raise _illegal(state, "callbacks are for hotline cases")
    if update.action is Action.CALLBACK and state.called_back_at_ms is not None:
        raise _illegal(state, f"already called back at {state.called_back_at_ms}")
    verifies = update.action in (Action.VERIFY_OK, Action.VERIFY_FAIL)
    if verifies and update.actor not in {CENTRE_ACTOR, state.verifier or CENTRE_ACTOR}:
        raise LifecycleError(
            Reason.WRONG_ACTOR,
            f"case {state.case_id}: {update.action.value} by {update.actor!r}, but the "
            f"verify task is with {state.verifier or 'nobody'!r} (or the centre)",
        )
    target = TRANSITIONS[key]
    if target is None:
        if state.held_from is None:
            raise _illegal(state, "on hold without a status to resume")
        target = state.held_from
    return target


def _check_return(state: CaseState, update: CaseUpdate) -> None:
    if state.return_due_ms is None or update.ts_ms > state.return_due_ms:
        raise LifecycleError(
            Reason.RETURN_TOO_LATE,
            f"case {state.case_id}: return at {update.ts_ms} is after the return limit "
            f"({state.return_due_ms})",
        )
    if update.to_department == state.department:
        raise _illegal(state, f"a return names the department it comes from ({state.department!r})")


def _effects(state: CaseState, update: CaseUpdate, calendar: WorkCalendar | None) -> dict[str, Any]:
    """Field changes of an allowed update, besides status, seq and bookkeeping."""
    ts, action = update.ts_ms, update.action
    if action is Action.SIGN:
        return {"signed_at_ms": ts}
    if action is Action.HANDLE:
        first = ts if state.first_handled_at_ms is None else state.first_handled_at_ms
        return {"handled_at_ms": ts, "first_handled_at_ms": first}
    if action is Action.VERIFY_OK:
        return {"closed_at_ms": ts, "verifier": ""}
    if action is Action.CLOSE_ON_SPOT:
        return {"closed_at_ms": ts, "department": update.department}
    if action is Action.VERIFY_FAIL:
        return {"rework_count": state.rework_count + 1, "verifier": ""}
    if action is Action.HOLD:
        return {"held_from": state.status, "held_since_ms": ts}
    if action is Action.CALLBACK:
        return {"called_back_at_ms": ts}
    if action is Action.REOPEN:
        return {
            "rework_count": state.rework_count + 1,
            "reopen_count": state.reopen_count + 1,
            "closed_at_ms": None,
            "called_back_at_ms": None,
            "verifier": "",
        }
    if action is Action.RETURN:
        # the returning department no longer has the case; the re-dispatch names the next
        return {"return_count": state.return_count + 1, "return_due_ms": None}
    changes: dict[str, Any] = {}
    if state.held_since_ms is not None:  # resume, or void while on hold
        changes = {
            "held_from": None,
            "held_since_ms": None,
            "hold_ms": state.hold_ms + ts - state.held_since_ms,
        }
    if action is Action.RESUME and state.deadline_ms is not None:
        changes["deadline_ms"] = _resumed_deadline(state, ts, calendar)
    if action is Action.VOID:
        changes["voided_at_ms"] = ts
    return changes


def _resumed_deadline(state: CaseState, ts: int, calendar: WorkCalendar | None) -> int:
    assert state.deadline_ms is not None and state.held_since_ms is not None
    if calendar is None:
        raise ValueError(
            f"case {state.case_id}: resuming a held case moves its deadline on the work "
            "calendar; apply_update needs calendar="
        )
    return calendar.resume_deadline(
        state.deadline_ms, state.held_since_ms, ts, on_clock=state.deadline_on_clock
    )


def _step(
    state: CaseState,
    update: CaseUpdate,
    extra: Mapping[str, Any],
    calendar: WorkCalendar | None = None,
) -> tuple[CaseState, Transition | None]:
    if update.case_id != state.case_id:
        raise LifecycleError(
            Reason.UNKNOWN_CASE, f"update for case {update.case_id} applied to {state.case_id}"
        )
    if update.update_id in state.applied:
        return state, None
    target = _check(state, update)
    seq = state.seq + 1
    new = dataclasses.replace(
        state,
        status=target,
        seq=seq,
        last_ts_ms=update.ts_ms,
        applied=(*state.applied, update.update_id),
        **_effects(state, update, calendar),
        **extra,
    )
    transition = Transition(
        transition_id=f"{state.case_id}:{seq}",
        case_id=state.case_id,
        seq=seq,
        action=update.action,
        from_status=state.status,
        to_status=target,
        ts_ms=update.ts_ms,
        actor=update.actor,
        department=update.department,
        update_id=update.update_id,
        note=update.note,
        deadline_ms=new.deadline_in_force,
        result=update.result,
    )
    return new, transition


def apply_update(
    state: CaseState | None, update: CaseUpdate, *, calendar: WorkCalendar | None = None
) -> tuple[CaseState, Transition | None]:
    """Apply a department update; ``(state, None)`` when it was already applied.

    ``calendar`` is needed to resume a held case (its deadline moves on working time).
    """
    if state is None:
        raise LifecycleError(Reason.UNKNOWN_CASE, f"no open case {update.case_id}")
    if update.action in CENTRE_ACTIONS:
        raise _illegal(state, f"{update.action.value} comes from the centre, not from case.updates")
    return _step(state, update, {}, calendar)


def after_callback(state: CaseState, callback: Transition) -> tuple[CaseState, Transition | None]:
    """The centre's rule after ``callback``: an unsatisfied callback reopens the case (to
    rework) unless it was reopened :data:`MAX_REOPENS` times already; ``(state, None)``
    when nothing follows."""
    if callback.action is not Action.CALLBACK or callback.result != CallbackResult.UNSATISFIED:
        return state, None
    if state.reopen_count >= MAX_REOPENS:
        return state, None
    update = CaseUpdate(
        update_id=f"reopen:{callback.update_id}",
        case_id=state.case_id,
        action=Action.REOPEN,
        actor=CENTRE_ACTOR,
        department=state.department,
        ts_ms=callback.ts_ms,
        note="unsatisfied callback",
    )
    return _step(state, update, {})


def assign_verifier(state: CaseState, supervisor: str) -> CaseState:
    """The state once its verify task went to ``supervisor`` (only a handled case has one)."""
    if state.status is not Status.HANDLED:
        raise _illegal(state, f"a verify task needs a handled case, not {state.status.value}")
    if not supervisor:
        raise ValueError(f"case {state.case_id}: a verify task needs a supervisor")
    return dataclasses.replace(state, verifier=supervisor)


def apply_dispatch(state: CaseState, order: DispatchOrder) -> tuple[CaseState, Transition | None]:
    """Record the dispatch of ``state``'s case; a replayed order is a no-op."""
    if order.round:
        raise _illegal(state, f"order round {order.round} is a re-dispatch (apply_redispatch)")
    return _dispatch_step(state, order, Action.DISPATCH, "", {})


def apply_redispatch(
    state: CaseState, order: DispatchOrder, note: str = ""
) -> tuple[CaseState, Transition | None]:
    """Record the centre's re-dispatch of a returned case; a replayed order is a no-op.

    ``dispatched_at_ms`` stays the first dispatch (the 及时派遣率 is about that step); the
    handling deadline and the return window are the new order's."""
    if order.round != state.return_count or not order.round:
        raise _illegal(state, f"re-dispatch round {order.round} after {state.return_count} returns")
    extra = {"redispatched_at_ms": order.dispatched_at_ms, "signed_at_ms": None}
    return _dispatch_step(state, order, Action.REDISPATCH, note, extra)


def _dispatch_step(
    state: CaseState, order: DispatchOrder, action: Action, note: str, extra: dict[str, Any]
) -> tuple[CaseState, Transition | None]:
    update = CaseUpdate(
        update_id=order.update_id,
        case_id=order.case_id,
        action=action,
        actor=CENTRE_ACTOR,
        department=order.department,
        ts_ms=order.dispatched_at_ms,
        note=note,
    )
    if update.update_id in state.applied:
        return state, None
    # the department check of _check is about updates from departments: the centre moves
    # the case between them, so the step is checked as the case's own department's
    checked = dataclasses.replace(state, department="")
    new, transition = _step(
        checked,
        update,
        {
            "department": order.department,
            "category_key": order.category_key,
            "urgent": order.urgent,
            "dispatched_at_ms": state.dispatched_at_ms or order.dispatched_at_ms,
            "deadline_ms": order.deadline_ms,
            "deadline_unit": order.deadline_unit.value,
            "return_due_ms": order.return_due_ms,
            **extra,
        },
    )
    return new, transition
