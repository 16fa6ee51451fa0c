"""The case state machine driven step by step, for the lifecycle tests: a dispatch order,
updates, the path into each status."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

from streams.cases.calendar import DeadlineUnit, WorkCalendar
from streams.cases.dispatch import DispatchOrder
from streams.cases.lifecycle import (
    CaseState,
    after_callback,
    apply_dispatch,
    apply_redispatch,
    apply_update,
    open_case,
)
from streams.cases.transitions import (
    CENTRE_ACTOR,
    Action,
    CaseUpdate,
    LifecycleError,
    Status,
    Transition,
)
from streams.contracts.reasons import Reason
from streams.settings import load_settings

CASE = 42
T0 = 1_690_762_500_000  # 2023-07-31 08:15 +08:00
MIN = 60_000
DEPT = "sanitation"
CAL = WorkCalendar.from_settings(load_settings(env={}))
SHANGHAI = ZoneInfo("Asia/Shanghai")


def wall(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp() * 1000)


def order(case_id: int = CASE, ts: int = T0 + 5 * MIN) -> DispatchOrder:
    return DispatchOrder(
        case_id=case_id,
        category_key="E0102",
        department=DEPT,
        urgent=False,
        opened_at_ms=T0,
        dispatched_at_ms=ts,
        dispatch_due_ms=T0 + 30 * MIN,
        dispatched_on_time=True,
        deadline_value=4,
        deadline_unit=DeadlineUnit.WORK_HOURS,
        deadline_ms=T0 + 300 * MIN,
        return_due_ms=ts + 120 * MIN,
    )


_counter = itertools.count(1)


def upd(
    action: Action, ts: int, *, dept: str = DEPT, uid: str | None = None, actor: str = ""
) -> CaseUpdate:
    # the centre may always verify; supervisors' verifications are tested on their own
    verifies = action in (Action.VERIFY_OK, Action.VERIFY_FAIL)
    return CaseUpdate(
        update_id=uid or f"u{next(_counter)}",
        case_id=CASE,
        action=action,
        actor=actor or (CENTRE_ACTOR if verifies else "someone"),
        department=dept,
        ts_ms=ts,
    )


# The path that brings a fresh fixed-on-the-spot case into each status.
PATHS: dict[Status, list[Action]] = {
    Status.OPENED: [],
    Status.DISPATCHED: [Action.DISPATCH],
    Status.SIGNED: [Action.DISPATCH, Action.SIGN],
    Status.HANDLED: [Action.DISPATCH, Action.SIGN, Action.HANDLE],
    Status.CLOSED: [Action.DISPATCH, Action.SIGN, Action.HANDLE, Action.VERIFY_OK],
    Status.REWORK: [Action.DISPATCH, Action.SIGN, Action.HANDLE, Action.VERIFY_FAIL],
    Status.ON_HOLD: [Action.DISPATCH, Action.SIGN, Action.HOLD],
    Status.VOIDED: [Action.DISPATCH, Action.VOID],
    Status.RETURNED: [Action.DISPATCH, Action.RETURN],
}


def step(state: CaseState, action: Action, ts: int) -> tuple[CaseState, Transition | None]:
    if action is Action.DISPATCH:
        return apply_dispatch(state, order(ts=ts))
    if action is Action.REDISPATCH:
        again = dataclasses.replace(order(ts=ts), department="other", round=state.return_count)
        return apply_redispatch(state, again)
    update = upd(action, ts)
    if action is Action.REOPEN:
        callback = dataclasses.replace(update, action=Action.CALLBACK, result="unsatisfied")
        reopened, transition = after_callback(state, _transition_of(callback))
        assert transition is not None or state.status is not Status.CLOSED
        if transition is None:
            raise LifecycleError(Reason.ILLEGAL_TRANSITION, f"case {CASE}: no reopen")
        return reopened, transition
    if action is Action.RETURN:
        update = dataclasses.replace(update, note="not ours")
    if action is Action.CALLBACK:
        update = dataclasses.replace(update, result="satisfied")
    return apply_update(state, update, calendar=CAL)


def _transition_of(update: CaseUpdate) -> Transition:
    return Transition(
        f"{CASE}:99", CASE, 99, update.action, Status.CLOSED, Status.CLOSED, update.ts_ms,
        update.actor, update.department, update.update_id, "", None, update.result,
    )  # fmt: skip


def state_in(status: Status) -> CaseState:
    state = open_case(CASE, T0, fixed_on_spot=True, hotline=True)
    for i, action in enumerate(PATHS[status], 1):
        state, _ = step(state, action, T0 + i * 10 * MIN)
    assert state.status is status
    return state
