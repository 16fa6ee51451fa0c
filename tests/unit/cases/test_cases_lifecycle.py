"""Case state machine: every allowed step, every illegal one, idempotency, serialisation."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from streams.cases.calendar import DeadlineUnit, WorkCalendar
from streams.cases.casebook import CaseBook
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
    TRANSITIONS,
    UPDATE_ACTIONS,
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


# The spec, written out independently of the code's table.
EXPECTED_STEPS = {
    ("opened", "dispatch", "dispatched"),
    ("opened", "close_on_spot", "closed"),
    ("dispatched", "sign", "signed"),
    ("signed", "handle", "handled"),
    ("handled", "verify_ok", "closed"),
    ("handled", "verify_fail", "rework"),
    ("rework", "sign", "signed"),
    ("rework", "handle", "handled"),
    ("dispatched", "hold", "on_hold"),
    ("signed", "hold", "on_hold"),
    ("on_hold", "resume", None),
    *((s, "void", "voided") for s in ("opened", "dispatched", "signed", "handled", "rework")),
    ("on_hold", "void", "voided"),
    ("dispatched", "return", "returned"),
    ("signed", "return", "returned"),
    ("returned", "redispatch", "dispatched"),
    ("returned", "void", "voided"),
    ("closed", "callback", "closed"),
    ("closed", "reopen", "rework"),
}


def test_transition_table_matches_the_spec():
    table = {(f.value, a.value, t and t.value) for (f, a), t in TRANSITIONS.items()}
    assert table == EXPECTED_STEPS


def test_the_table_reaches_every_status_and_terminal_states_have_no_exit():
    targets = {t for t in TRANSITIONS.values() if t is not None}
    assert targets | {Status.OPENED} == set(Status)
    assert not [key for key in TRANSITIONS if key[0] is Status.VOIDED]
    # a closed case is left only by its callback (回访) and the reopening that may follow
    assert {a for s, a in TRANSITIONS if s is Status.CLOSED} == {Action.CALLBACK, Action.REOPEN}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(Status, Action)))
def test_every_status_action_pair(status, action):
    state = state_in(status)
    ts = state.last_ts_ms + MIN
    if action is Action.DISPATCH and status is not Status.OPENED:
        # every path past OPENED went through the dispatch: the order is a replay
        assert step(state, action, ts) == (state, None)
        return
    if (status, action) not in TRANSITIONS:
        with pytest.raises(LifecycleError) as err:
            step(state, action, ts)
        assert err.value.reason is Reason.ILLEGAL_TRANSITION
        assert str(CASE) in err.value.message
        return
    new, transition = step(state, action, ts)
    expected = TRANSITIONS[(status, action)] or state.held_from
    assert new.status is expected
    assert transition is not None
    assert transition.from_status is status and transition.to_status is expected
    assert transition.seq == state.seq + 1 == new.seq
    assert transition.transition_id == f"{CASE}:{new.seq}"
    assert new.last_ts_ms == ts


def test_void_is_allowed_from_every_open_status():
    for status in Status:
        allowed = (status, Action.VOID) in TRANSITIONS
        assert allowed == (status not in (Status.CLOSED, Status.VOIDED)), status


@pytest.mark.parametrize("held_from", [Status.DISPATCHED, Status.SIGNED])
def test_resume_returns_to_where_the_hold_began(held_from):
    state = state_in(held_from)
    held, _ = apply_update(state, upd(Action.HOLD, state.last_ts_ms + MIN))
    assert held.held_from is held_from
    resumed, _ = apply_update(held, upd(Action.RESUME, held.last_ts_ms + 90 * MIN), calendar=CAL)
    assert resumed.status is held_from
    assert resumed.hold_ms == 90 * MIN and resumed.held_since_ms is None


def test_void_while_on_hold_counts_the_hold():
    held = state_in(Status.ON_HOLD)
    voided, _ = apply_update(held, upd(Action.VOID, held.last_ts_ms + 30 * MIN))
    assert voided.status is Status.VOIDED
    assert voided.hold_ms == 30 * MIN
    assert voided.voided_at_ms == held.last_ts_ms + 30 * MIN


def test_dispatch_of_a_case_closed_on_the_spot_is_illegal():
    closed, _ = apply_update(open_case(CASE, T0, fixed_on_spot=True), upd(Action.CLOSE_ON_SPOT, T0))
    with pytest.raises(LifecycleError, match="closed") as err:
        apply_dispatch(closed, order())
    assert err.value.reason is Reason.ILLEGAL_TRANSITION


def test_close_on_spot_needs_a_patrol_fixed_on_the_spot():
    plain = open_case(CASE, T0)
    with pytest.raises(LifecycleError, match="fixed on the spot") as err:
        apply_update(plain, upd(Action.CLOSE_ON_SPOT, T0))
    assert err.value.reason is Reason.ILLEGAL_TRANSITION
    closed, transition = apply_update(
        open_case(CASE, T0, fixed_on_spot=True), upd(Action.CLOSE_ON_SPOT, T0)
    )
    assert closed.status is Status.CLOSED and closed.closed_at_ms == T0
    assert closed.department == DEPT and transition is not None


def test_rework_cycle_records_counts_and_first_handling():
    state = state_in(Status.REWORK)
    first = state.first_handled_at_ms
    assert state.rework_count == 1
    state, _ = apply_update(state, upd(Action.HANDLE, state.last_ts_ms + MIN))
    state, _ = apply_update(state, upd(Action.VERIFY_FAIL, state.last_ts_ms + MIN))
    state, _ = apply_update(state, upd(Action.SIGN, state.last_ts_ms + MIN))
    state, _ = apply_update(state, upd(Action.HANDLE, state.last_ts_ms + MIN))
    state, _ = apply_update(state, upd(Action.VERIFY_OK, state.last_ts_ms + MIN))
    assert state.status is Status.CLOSED and state.rework_count == 2
    assert first is not None and state.handled_at_ms is not None
    assert state.first_handled_at_ms == first < state.handled_at_ms


def test_duplicate_update_is_a_no_op():
    state = state_in(Status.DISPATCHED)
    sign = upd(Action.SIGN, state.last_ts_ms + MIN, uid="dup")
    signed, transition = apply_update(state, sign)
    assert transition is not None
    again, none = apply_update(signed, sign)
    assert none is None and again == signed
    # even when the duplicate would be illegal now (signed cannot be signed again)
    assert apply_update(signed, sign)[0] is signed


def test_replayed_dispatch_is_a_no_op():
    state = open_case(CASE, T0)
    dispatched, transition = apply_dispatch(state, order())
    assert transition is not None and dispatched.department == DEPT
    assert dispatched.deadline_ms == order().deadline_ms
    assert apply_dispatch(dispatched, order()) == (dispatched, None)


def test_out_of_order_update_is_rejected():
    state = state_in(Status.SIGNED)
    with pytest.raises(LifecycleError, match="out of order") as err:
        apply_update(state, upd(Action.HANDLE, state.last_ts_ms - 1))
    assert err.value.reason is Reason.ILLEGAL_TRANSITION
    same_time, _ = apply_update(state, upd(Action.HANDLE, state.last_ts_ms))
    assert same_time.status is Status.HANDLED


def test_update_from_another_department_is_rejected():
    state = state_in(Status.DISPATCHED)
    with pytest.raises(LifecycleError, match="greening") as err:
        apply_update(state, upd(Action.SIGN, state.last_ts_ms + MIN, dept="greening"))
    assert err.value.reason is Reason.ILLEGAL_TRANSITION


def test_unknown_case():
    with pytest.raises(LifecycleError) as err:
        apply_update(None, upd(Action.SIGN, T0))
    assert err.value.reason is Reason.UNKNOWN_CASE
    other = open_case(CASE + 1, T0)
    with pytest.raises(LifecycleError) as err:
        apply_update(other, upd(Action.SIGN, T0))
    assert err.value.reason is Reason.UNKNOWN_CASE
    book = CaseBook()
    with pytest.raises(LifecycleError) as err:
        book.apply(upd(Action.SIGN, T0).to_dict())
    assert err.value.reason is Reason.UNKNOWN_CASE
    with pytest.raises(LifecycleError) as err:
        book.dispatch(order())
    assert err.value.reason is Reason.UNKNOWN_CASE


def test_dispatch_cannot_come_from_case_updates():
    data = upd(Action.SIGN, T0).to_dict() | {"action": "dispatch"}
    with pytest.raises(LifecycleError) as err:
        CaseUpdate.from_dict(data)
    assert err.value.reason is Reason.ILLEGAL_TRANSITION
    for centre_only in (Action.DISPATCH, Action.REDISPATCH, Action.REOPEN):
        with pytest.raises(LifecycleError, match="comes from the centre"):
            apply_update(open_case(CASE, T0), upd(centre_only, T0))


def test_update_record_round_trip_and_iso_time():
    update = upd(Action.HANDLE, T0)
    assert CaseUpdate.from_dict(json.loads(json.dumps(update.to_dict()))) == update
    record = update.to_dict() | {"ts": "2023-07-31T08:15:00+08:00", "case_id": str(CASE)}
    del record["note"]
    parsed = CaseUpdate.from_dict(record)
    assert parsed.ts_ms == T0 and parsed.case_id == CASE and parsed.note == ""
    assert {a.value for a in UPDATE_ACTIONS} == {
        "sign", "handle", "verify_ok", "verify_fail", "hold", "resume", "void", "close_on_spot",
        "return", "callback",
    }  # fmt: skip


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


@pytest.mark.parametrize("status", list(Status))
def test_state_survives_json(status):
    state = state_in(status)
    restored = CaseState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert isinstance(restored.status, Status) and isinstance(restored.applied, tuple)


def test_state_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown fields"):
        CaseState.from_dict(open_case(CASE, T0).to_dict() | {"colour": "red"})


def test_casebook_replay_gives_the_same_transition_ids():
    def run() -> list[dict[str, object]]:
        book = CaseBook()
        book.open(CASE, T0)
        out = [book.dispatch(order())]
        for i, action in enumerate([Action.SIGN, Action.HANDLE, Action.VERIFY_OK], 1):
            out.append(book.apply(upd(action, T0 + i * 20 * MIN, uid=f"r{i}")))
        out.append(book.apply(upd(Action.SIGN, T0 + 20 * MIN, uid="r1")))  # replayed
        return [t.to_dict() if t else {} for t in out]

    first, second = run(), run()
    assert first == second
    assert [t.get("transition_id") for t in first] == [f"{CASE}:{n}" for n in (1, 2, 3, 4)] + [None]
    assert first[3]["to_status"] == "closed" and first[3]["deadline_ms"] == order().deadline_ms


def test_casebook_open_is_idempotent():
    book = CaseBook()
    first = book.open(CASE, T0)
    assert book.open(CASE, T0 + MIN) is first
    assert CASE in book and len(book) == 1 and book.get(CASE + 1) is None


def test_state_from_dict_rejects_a_bad_status_or_missing_fields():
    with pytest.raises(ValueError, match="bad case state"):
        CaseState.from_dict(open_case(CASE, T0).to_dict() | {"status": "lost"})
    data = open_case(CASE, T0).to_dict()
    del data["opened_at_ms"]
    with pytest.raises(ValueError, match="bad case state"):
        CaseState.from_dict(data)


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
