"""Case state machine: every allowed step, every illegal one, idempotency, serialisation."""

from __future__ import annotations

import itertools
import json

import pytest

from streams.cases.casebook import CaseBook
from streams.cases.lifecycle import (
    CaseState,
    apply_dispatch,
    apply_update,
    open_case,
)
from streams.cases.transitions import (
    TRANSITIONS,
    UPDATE_ACTIONS,
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
)

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
