"""Case state machine, the loop around handling: returns (退单), verification (核查), hold
(缓办) and callbacks (回访)."""

from __future__ import annotations

import dataclasses

import pytest

from streams.cases.dispatch import DispatchOrder
from streams.cases.lifecycle import (
    CaseState,
    after_callback,
    apply_dispatch,
    apply_redispatch,
    apply_update,
    assign_verifier,
    open_case,
)
from streams.cases.transitions import (
    CENTRE_ACTOR,
    Action,
    CaseUpdate,
    LifecycleError,
    Status,
)
from streams.contracts.reasons import Reason
from tests.unit.cases.lifecycle_steps import (
    CAL,
    CASE,
    DEPT,
    MIN,
    T0,
    order,
    state_in,
    step,
    upd,
    wall,
)


def _return(ts: int, *, dept: str = DEPT, to: str = "", note: str = "not ours") -> CaseUpdate:
    return dataclasses.replace(upd(Action.RETURN, ts, dept=dept), note=note, to_department=to)


def test_return_within_the_limit_then_redispatch_restarts_the_deadline():
    state = state_in(Status.SIGNED)  # dispatched at T0 + 10 min, signed at T0 + 20 min
    first = order(ts=T0 + 10 * MIN)
    assert state.return_due_ms == first.return_due_ms == T0 + 130 * MIN
    returned, t = apply_update(state, _return(T0 + 130 * MIN, to="roads"), calendar=CAL)
    assert returned.status is Status.RETURNED and returned.return_count == 1
    assert t is not None and (t.from_status, t.to_status) == (Status.SIGNED, Status.RETURNED)
    assert t.department == DEPT and t.note == "not ours"
    again = dataclasses.replace(
        first, department="roads", dispatched_at_ms=T0 + 130 * MIN, deadline_ms=T0 + 999 * MIN,
        return_due_ms=T0 + 250 * MIN, round=1,
    )  # fmt: skip
    state, t = apply_redispatch(returned, again, "returned by x")
    assert state.status is Status.DISPATCHED and state.department == "roads"
    assert state.deadline_ms == T0 + 999 * MIN and state.return_due_ms == T0 + 250 * MIN
    assert state.dispatched_at_ms == T0 + 10 * MIN  # the first dispatch stays
    assert state.redispatched_at_ms == T0 + 130 * MIN and state.signed_at_ms is None
    assert t is not None and t.action is Action.REDISPATCH and t.update_id.endswith(":r1")
    assert apply_redispatch(state, again) == (state, None)  # replayed order
    # the old department is no longer the case's; the new one may return it in its window
    with pytest.raises(LifecycleError) as err:
        apply_update(state, upd(Action.SIGN, T0 + 140 * MIN), calendar=CAL)
    assert err.value.reason is Reason.ILLEGAL_TRANSITION
    back, _ = apply_update(state, _return(T0 + 200 * MIN, dept="roads"), calendar=CAL)
    assert back.return_count == 2
    with pytest.raises(LifecycleError, match="round 1 after 2"):
        apply_redispatch(back, again)


@pytest.mark.parametrize(
    ("status", "update", "reason"),
    [
        (Status.DISPATCHED, _return(T0 + 131 * MIN), Reason.RETURN_TOO_LATE),
        (Status.DISPATCHED, _return(T0 + 20 * MIN, dept="roads"), Reason.ILLEGAL_TRANSITION),
        (Status.DISPATCHED, _return(T0 + 20 * MIN, to=DEPT), Reason.ILLEGAL_TRANSITION),
        (Status.HANDLED, _return(T0 + 40 * MIN), Reason.ILLEGAL_TRANSITION),
        (Status.CLOSED, _return(T0 + 50 * MIN), Reason.ILLEGAL_TRANSITION),
        (Status.ON_HOLD, _return(T0 + 40 * MIN), Reason.ILLEGAL_TRANSITION),
    ],
)
def test_bad_returns_are_refused(status: Status, update: CaseUpdate, reason: Reason):
    state = state_in(status)
    with pytest.raises(LifecycleError) as err:
        apply_update(state, update, calendar=CAL)
    assert err.value.reason is reason


def test_a_return_needs_a_reason_and_an_old_dispatch_has_no_window():
    data = _return(T0).to_dict() | {"note": "  "}
    with pytest.raises(LifecycleError) as err:
        CaseUpdate.from_dict(data)
    assert err.value.reason is Reason.MISSING_FIELD
    assert CaseUpdate.from_dict(_return(T0, to="roads").to_dict()).to_department == "roads"
    legacy = order().to_dict()
    del legacy["return_due_ms"], legacy["round"]
    old = DispatchOrder.from_dict(legacy)
    assert (old.return_due_ms, old.round) == (old.dispatched_at_ms, 0)
    state, _ = apply_dispatch(open_case(CASE, T0), old)
    with pytest.raises(LifecycleError) as err:
        apply_update(state, _return(old.dispatched_at_ms + MIN), calendar=CAL)
    assert err.value.reason is Reason.RETURN_TOO_LATE


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"update_id": None}, Reason.MISSING_FIELD),
        ({"ts": None}, Reason.MISSING_FIELD),
        ({"action": "approve"}, Reason.ILLEGAL_TRANSITION),
        ({"ts": "2023-07-31T08:15:00"}, Reason.BAD_TIME),
        ({"ts": "yesterday"}, Reason.BAD_TIME),
        ({"ts": 1.5}, Reason.WRONG_TYPE),
        ({"ts": True}, Reason.WRONG_TYPE),
        ({"case_id": -3}, Reason.WRONG_TYPE),
        ({"case_id": "abc"}, Reason.WRONG_TYPE),
        ({"actor": 7}, Reason.WRONG_TYPE),
        ({"note": ["x"]}, Reason.WRONG_TYPE),
    ],
)
def test_malformed_update_records(change, reason):
    record = upd(Action.SIGN, T0).to_dict() | change
    with pytest.raises(LifecycleError) as err:
        CaseUpdate.from_dict(record)
    assert err.value.reason is reason


# Verification (核查) -----------------------------------------------------------------------
SUPERVISOR = "SUP-001-02"


def test_only_the_assigned_supervisor_or_the_centre_may_verify():
    handled = state_in(Status.HANDLED)
    ts = handled.last_ts_ms + MIN
    with pytest.raises(LifecycleError, match="nobody") as err:  # no task yet: centre only
        apply_update(handled, upd(Action.VERIFY_OK, ts, actor=SUPERVISOR))
    assert err.value.reason is Reason.WRONG_ACTOR
    tasked = assign_verifier(handled, SUPERVISOR)
    for action in (Action.VERIFY_OK, Action.VERIFY_FAIL):
        with pytest.raises(LifecycleError, match=SUPERVISOR) as err:
            apply_update(tasked, upd(action, ts, actor="SUP-009-01"))
        assert err.value.reason is Reason.WRONG_ACTOR
    closed, transition = apply_update(tasked, upd(Action.VERIFY_OK, ts, actor=SUPERVISOR))
    assert closed.status is Status.CLOSED and closed.verifier == ""
    assert transition is not None and transition.actor == SUPERVISOR
    back, _ = apply_update(tasked, upd(Action.VERIFY_FAIL, ts, actor=CENTRE_ACTOR))
    assert back.status is Status.REWORK and back.verifier == "" and back.rework_count == 1


def test_a_verify_task_needs_a_handled_case():
    with pytest.raises(LifecycleError, match="handled case") as err:
        assign_verifier(state_in(Status.SIGNED), SUPERVISOR)
    assert err.value.reason is Reason.ILLEGAL_TRANSITION
    with pytest.raises(ValueError, match="supervisor"):
        assign_verifier(state_in(Status.HANDLED), "")


# Hold (缓办) pauses the deadline -----------------------------------------------------------


def _signed(deadline_ms: int, *, urgent: bool = False) -> CaseState:
    dispatched = wall("2023-07-31 08:40")
    o = dataclasses.replace(order(ts=dispatched), deadline_ms=deadline_ms, urgent=urgent)
    state, _ = apply_dispatch(open_case(CASE, T0), o)
    state, _ = apply_update(state, upd(Action.SIGN, wall("2023-07-31 08:50")))
    return state


def test_hold_pauses_the_working_time_deadline():
    signed = _signed(wall("2023-07-31 16:00"))
    held, hold = apply_update(signed, upd(Action.HOLD, wall("2023-07-31 17:00")))
    assert held.deadline_in_force is None and hold is not None and hold.deadline_ms is None
    resume = upd(Action.RESUME, wall("2023-08-01 10:00"))
    with pytest.raises(ValueError, match="calendar"):
        apply_update(held, resume)  # no calendar: refused, not guessed
    resumed, transition = apply_update(held, resume, calendar=CAL)
    # 2 working hours on hold (17:00-17:30, 08:30-10:00): 16:00 -> next day 09:00
    assert resumed.deadline_ms == wall("2023-08-01 09:00") == resumed.deadline_in_force
    assert transition is not None and transition.deadline_ms == resumed.deadline_ms
    assert resumed.hold_ms == 17 * 60 * MIN


def test_hold_of_a_held_case_before_its_deadline_grants_the_time_left_again():
    signed = _signed(wall("2023-07-31 11:00"))  # 1.5 working hours left at 09:30
    held, _ = apply_update(signed, upd(Action.HOLD, wall("2023-07-31 09:30")))
    resumed, _ = apply_update(held, upd(Action.RESUME, wall("2023-08-02 15:00")), calendar=CAL)
    assert resumed.deadline_ms == wall("2023-08-02 16:30")


def test_hold_of_an_urgent_case_pauses_clock_time():
    signed = _signed(wall("2023-07-31 10:40"), urgent=True)
    held, _ = apply_update(signed, upd(Action.HOLD, wall("2023-07-31 09:00")))
    resumed, _ = apply_update(held, upd(Action.RESUME, wall("2023-07-31 22:00")), calendar=CAL)
    assert resumed.deadline_ms == wall("2023-07-31 23:40")  # 13 clock hours later


def _callback(ts: int, result: str, uid: str = "") -> CaseUpdate:
    return dataclasses.replace(
        upd(Action.CALLBACK, ts, uid=uid or None, actor="callback-desk"), result=result
    )


def test_unsatisfied_callback_reopens_once_then_is_only_recorded():
    closed = state_in(Status.CLOSED)  # closed at T0 + 40 min
    deadline = closed.deadline_ms
    state, t = apply_update(closed, _callback(T0 + 50 * MIN, "unsatisfied"), calendar=CAL)
    assert t is not None and t.result == "unsatisfied" and state.status is Status.CLOSED
    assert t.to_dict()["result"] == "unsatisfied"
    state, reopen = after_callback(state, t)
    assert reopen is not None and reopen.action is Action.REOPEN and reopen.actor == CENTRE_ACTOR
    assert (reopen.from_status, reopen.to_status) == (Status.CLOSED, Status.REWORK)
    assert reopen.update_id == f"reopen:{t.update_id}" and reopen.ts_ms == t.ts_ms
    assert state.closed_at_ms is None and state.called_back_at_ms is None
    assert (state.rework_count, state.reopen_count, state.deadline_ms) == (1, 1, deadline)
    for i, action in enumerate((Action.SIGN, Action.HANDLE, Action.VERIFY_OK), 1):
        state, _ = step(state, action, T0 + (60 + i) * MIN)
    assert state.status is Status.CLOSED and state.closed_at_ms == T0 + 63 * MIN
    state, t = apply_update(state, _callback(T0 + 70 * MIN, "unsatisfied"), calendar=CAL)
    assert t is not None
    assert after_callback(state, t) == (state, None)  # MAX_REOPENS reached: recorded only


@pytest.mark.parametrize("result", ["satisfied", "basically_satisfied", "unreachable"])
def test_other_callbacks_are_recorded_and_change_nothing_else(result: str):
    closed = state_in(Status.CLOSED)
    state, t = apply_update(closed, _callback(T0 + 50 * MIN, result), calendar=CAL)
    assert t is not None and t.result == result
    assert after_callback(state, t) == (state, None)
    assert state.called_back_at_ms == T0 + 50 * MIN and state.status is Status.CLOSED


def test_bad_callbacks_are_refused():
    closed = state_in(Status.CLOSED)
    once, _ = apply_update(closed, _callback(T0 + 50 * MIN, "satisfied"), calendar=CAL)
    bad = [
        (once, _callback(T0 + 60 * MIN, "unsatisfied")),  # one callback per closure
        (state_in(Status.HANDLED), _callback(T0 + 60 * MIN, "satisfied")),  # not closed
        (dataclasses.replace(closed, hotline=False), _callback(T0 + 60 * MIN, "satisfied")),
    ]
    for state, update in bad:
        with pytest.raises(LifecycleError) as err:
            apply_update(state, update, calendar=CAL)
        assert err.value.reason is Reason.ILLEGAL_TRANSITION
    record = _callback(T0, "satisfied").to_dict()
    for change, reason in [
        ({"result": None}, Reason.MISSING_FIELD),
        ({"result": "thrilled"}, Reason.WRONG_TYPE),
        ({"result": 3}, Reason.WRONG_TYPE),
    ]:
        with pytest.raises(LifecycleError) as err:
            CaseUpdate.from_dict(record | change)
        assert err.value.reason is reason
    assert CaseUpdate.from_dict(record).result == "satisfied"
    # a result on another action is not kept
    assert CaseUpdate.from_dict(upd(Action.SIGN, T0).to_dict() | {"result": "x"}).result == ""
