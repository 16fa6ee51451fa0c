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
from typing import TYPE_CHECKING, Any

from streams.cases.calendar import DeadlineUnit
from streams.cases.dispatch import DispatchOrder
from streams.cases.transitions import (
    CENTRE_ACTIONS,
    CENTRE_ACTOR,
    MAX_REOPENS,
    TRANSITIONS,
    Action,
    CallbackResult,
    CaseUpdate,
    LifecycleError,
    Status,
    Transition,
)
from streams.contracts.reasons import Reason

if TYPE_CHECKING:
    from streams.cases.calendar import WorkCalendar

__all__ = [
    "CaseState",
    "after_callback",
    "apply_dispatch",
    "apply_redispatch",
    "apply_update",
    "assign_verifier",
    "open_case",
]


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
