"""The lifecycle agent's pure part: case.updates values against the case state."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from app_cases import PATROL_CASE, SENSOR_CASE, case_rows

from streams.app.dispatch_agent import Dispatcher
from streams.app.lifecycle_agent import LifecycleStep
from streams.cases.records import case_state_record as case_row_of
from streams.cases.transitions import LifecycleError, Status
from streams.contracts.closures import Closure, decode_closures
from streams.contracts.fused import Source
from streams.contracts.reasons import Reason
from streams.contracts.topics import CASE_STATE, DISPATCH, TRANSITIONS
from streams.dedup.engine import DedupEngine
from streams.settings import Settings


@pytest.fixture(scope="module")
def opened(settings: Settings, engine: DedupEngine) -> dict[int, list[dict[str, Any]]]:
    """The case.updates messages of the sample cases."""
    dispatcher = Dispatcher(settings)
    return {cid: dispatcher.messages(row)[0] for cid, row in case_rows(engine).items()}


def _update(
    case_id: int, action: str, ts: int, uid: str, department: str, actor: str = "worker-1"
) -> dict[str, Any]:
    return {
        "update_id": uid,
        "case_id": case_id,
        "action": action,
        "actor": actor,
        "department": department,
        "ts": ts,
        "note": "",
    }


@pytest.fixture(scope="module")
def step(settings: Settings) -> LifecycleStep:
    return LifecycleStep.from_settings(settings)


def test_open_then_sign_then_illegal_and_duplicate(
    opened: dict[int, list[dict[str, Any]]], step: LifecycleStep
) -> None:
    message = opened[SENSOR_CASE][0]
    order = message["order"]
    state, records = step.advance(None, message)
    assert state is not None and state.status is Status.DISPATCHED
    assert [r["action"] for r in records] == ["open", "dispatch"]
    assert [r["seq"] for r in records] == [0, 1]
    assert records[0]["to_status"] == "opened"
    assert records[0]["department"] == order["department"]
    assert records[1]["deadline_ms"] == order["deadline_ms"] == state.deadline_ms
    # the open message again (redelivery): nothing new
    same, again = step.advance(state, message)
    assert again == [] and same == state

    dept = order["department"]
    sign = _update(SENSOR_CASE, "sign", order["dispatched_at_ms"] + 60_000, "u-1", dept)
    signed, records = step.advance(state, sign)
    assert signed is not None and signed.status is Status.SIGNED
    assert [(r["action"], r["from_status"], r["to_status"]) for r in records] == [
        ("sign", "dispatched", "signed")
    ]
    assert records[0]["transition_id"] == f"{SENSOR_CASE}:2"

    verify = _update(SENSOR_CASE, "verify_ok", sign["ts"] + 60_000, "u-2", dept)
    with pytest.raises(LifecycleError) as err:
        step.advance(signed, verify)
    assert err.value.reason is Reason.ILLEGAL_TRANSITION

    unchanged, records = step.advance(signed, sign)
    assert records == [] and unchanged == signed


def test_update_for_an_unknown_case_is_refused(step: LifecycleStep) -> None:
    with pytest.raises(LifecycleError) as err:
        step.advance(None, _update(9, "sign", 1, "u-9", "municipal"))
    assert err.value.reason is Reason.UNKNOWN_CASE


def test_on_spot_case_closes(opened: dict[int, list[dict[str, Any]]], step: LifecycleStep) -> None:
    open_msg, close_msg = opened[PATROL_CASE]
    state, records = step.advance(None, open_msg)
    assert state is not None and state.status is Status.OPENED and len(records) == 1
    state, records = step.advance(state, close_msg)
    assert state is not None and state.status is Status.CLOSED
    assert [r["action"] for r in records] == ["close_on_spot"]


def test_case_row_of_fills_the_grid_hierarchy(
    opened: dict[int, list[dict[str, Any]]], step: LifecycleStep
) -> None:
    message = opened[SENSOR_CASE][0]
    state, _ = step.advance(None, message)
    assert state is not None
    facts = message["case"]
    grid = facts["grid_code"]
    assert len(grid) == 15
    row = case_row_of(state, facts)
    assert row["grid_code"] == grid
    assert row["street"] == grid[:9] and len(row["street"]) == 9
    assert row["community"] == grid[:12] and len(row["community"]) == 12
    assert (row["lat"], row["lon"]) == (facts["lat"], facts["lon"])
    assert row["case_id"] == SENSOR_CASE and row["status"] == "dispatched"
    fixed = case_row_of(state, {"grid_code": "410611005002059"})
    assert (fixed["street"], fixed["community"]) == ("410611005", "410611005002")
    empty = case_row_of(state, None)
    assert (empty["grid_code"], empty["street"], empty["community"]) == ("", "", "")


def test_table_values_survive_the_changelog_codec(tmp_path: Any) -> None:
    """A restarted worker rebuilds the table from its changelog: every value the agent
    stores must decode with the codec Faust's recovery uses."""
    import asyncio

    from streams.app.factory import create_app

    stored = {"state": {"case_id": 7, "status": "opened"}, "facts": {"grid_code": "1" * 15}}

    async def roundtrip() -> Any:
        app = create_app(Settings(home=tmp_path).replace(app_id="lifecycle-codec"), ["lifecycle"])
        topic = app.tables["case-state"].changelog_topic
        raw = app.serializers.dumps_value(
            topic.value_type, stored, serializer=topic.value_serializer
        )
        return app.serializers.loads_value(topic.value_type, raw, serializer=topic.value_serializer)

    assert asyncio.run(roundtrip()) == stored


def _opened_entry(
    step: LifecycleStep, message: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The table entry after the open message, and its dispatch order."""
    outcome = step.handle(None, orjson.dumps(message))
    assert outcome.entry is not None and outcome.entry["order"] == message["order"]
    return outcome.entry, message["order"]


def _return(case_id: int, order: dict[str, Any], minutes: int, **fields: Any) -> bytes:
    ts = order["dispatched_at_ms"] + minutes * 60_000
    data = _update(case_id, "return", ts, f"ret-{minutes}", order["department"]) | {
        "note": "belongs to the roads people"
    }
    return orjson.dumps(data | fields)


def test_a_return_is_redispatched_to_the_named_department(
    opened: dict[int, list[dict[str, Any]]], step: LifecycleStep
) -> None:
    entry, order = _opened_entry(step, opened[SENSOR_CASE][0])
    other = sorted(step.departments - {order["department"]})[0]
    outcome = step.handle(entry, _return(SENSOR_CASE, order, 30, to_department=other))
    assert outcome.rejected is None and outcome.entry is not None
    topics = [name for name, _ in outcome.sends]
    assert topics == [CASE_STATE, TRANSITIONS, TRANSITIONS, DISPATCH]
    ret, redispatch = (r for name, r in outcome.sends if name == TRANSITIONS)
    assert (ret["action"], ret["from_status"], ret["to_status"]) == (
        "return", "dispatched", "returned",
    )  # fmt: skip
    assert ret["department"] == order["department"]
    assert (redispatch["action"], redispatch["to_status"]) == ("redispatch", "dispatched")
    assert redispatch["department"] == other and "roads people" in redispatch["note"]
    new_order = outcome.sends[-1][1]
    returned_at = ret["ts_ms"]
    assert new_order["department"] == other and new_order["round"] == 1
    assert new_order["dispatched_at_ms"] == redispatch["ts_ms"] == returned_at
    # the deadline restarts from the re-dispatch, with the category's time limit
    rule = step.rules[order["category_key"]]
    restarted = step.calendar.deadline_for(
        returned_at, rule.deadline_value, rule.deadline_unit, rule.urgent
    )
    assert new_order["deadline_ms"] == redispatch["deadline_ms"] == restarted
    assert new_order["deadline_ms"] > order["deadline_ms"]
    assert new_order["dispatch_due_ms"] == order["dispatch_due_ms"]  # first step's facts stay
    assert outcome.entry["order"] == new_order
    state = outcome.entry["state"]
    assert (state["status"], state["department"], state["return_count"]) == (
        "dispatched", other, 1,
    )  # fmt: skip
    case_row = outcome.sends[0][1]
    assert case_row["department"] == other and case_row["status"] == "dispatched"
    # the same return again (redelivery): nothing new
    again = step.handle(outcome.entry, _return(SENSOR_CASE, order, 30, to_department=other))
    assert again.entry is None and again.sends == [] and again.rejected is None


def test_bad_returns_go_to_the_dead_letters_and_change_nothing(
    opened: dict[int, list[dict[str, Any]]], step: LifecycleStep
) -> None:
    entry, order = _opened_entry(step, opened[SENSOR_CASE][0])
    dept = order["department"]
    limit_min = (order["return_due_ms"] - order["dispatched_at_ms"]) // 60_000
    other = sorted(step.departments - {dept})[0]
    cases = [
        (_return(SENSOR_CASE, order, limit_min + 1, to_department=other), "return_too_late"),
        (_return(SENSOR_CASE, order, 10, to_department="harbour"), "unknown_department"),
        # no department named and the category's rule points back to the returning one
        (_return(SENSOR_CASE, order, 10), "illegal_transition"),
        (_return(SENSOR_CASE, order, 10, to_department=dept), "illegal_transition"),
        (_return(SENSOR_CASE, order, 10, department=other), "illegal_transition"),
        (_return(SENSOR_CASE, order, 10, note=""), "missing_field"),
        (_return(SENSOR_CASE, order, 10, action="redispatch"), "illegal_transition"),
        (_return(SENSOR_CASE, order, 10, ts="soon"), "bad_time"),
    ]
    for raw, reason in cases:
        outcome = step.handle(entry, raw)
        assert outcome.rejected is not None and outcome.rejected[0].value == reason, raw
        assert outcome.entry is None and outcome.sends == []
    unknown = step.handle(None, _return(SENSOR_CASE + 99, order, 10, to_department=other))
    assert unknown.rejected is not None and unknown.rejected[0] is Reason.UNKNOWN_CASE


def test_a_closed_case_cannot_be_returned(
    opened: dict[int, list[dict[str, Any]]], step: LifecycleStep
) -> None:
    open_msg, close_msg = opened[PATROL_CASE]
    entry = step.handle(None, orjson.dumps(open_msg)).entry
    closed = step.handle(entry, orjson.dumps(close_msg)).entry
    assert closed is not None and closed["state"]["status"] == "closed"
    data = _update(PATROL_CASE, "return", close_msg["ts"] + 60_000, "r-1", close_msg["department"])
    outcome = step.handle(closed, orjson.dumps(data | {"note": "not ours", "to_department": "x"}))
    assert outcome.rejected is not None and outcome.rejected[0] is Reason.ILLEGAL_TRANSITION


def _closed(step: LifecycleStep, message: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The table entry once the case of ``message`` is signed, handled and verified."""
    entry, order = _opened_entry(step, message)
    case_id, dept, ts = message["case"]["case_id"], order["department"], order["dispatched_at_ms"]
    for i, action in enumerate(("sign", "handle"), 1):
        outcome = step.handle(entry, orjson.dumps(_update(case_id, action, ts + i * 60_000,
                                                          f"c-{i}", dept)))  # fmt: skip
        assert outcome.entry is not None, outcome.rejected
        entry = outcome.entry
    task = entry["task"]
    assert task["hotline"] is (message["case"]["source"] == Source.HOTLINE)
    verify = _update(case_id, "verify_ok", ts + 3 * 60_000, "c-3", dept, task["supervisor"])
    outcome = step.handle(entry, orjson.dumps(verify))
    assert outcome.entry is not None and outcome.entry["state"]["status"] == "closed"
    return outcome.entry, ts + 3 * 60_000


def _callback(case_id: int, ts: int, dept: str, result: str | None, uid: str = "cb") -> bytes:
    data = _update(case_id, "callback", ts, uid, dept, "callback-desk")
    return orjson.dumps(data | ({} if result is None else {"result": result}))


@pytest.fixture
def hotline_message(opened: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """The sensor case's opening message, made a hotline case (callbacks are for those)."""
    message = copy.deepcopy(opened[SENSOR_CASE][0])
    message["case"]["source"] = int(Source.HOTLINE)
    return message


def test_an_unsatisfied_callback_reopens_a_hotline_case(
    hotline_message: dict[str, Any], step: LifecycleStep
) -> None:
    message = hotline_message
    entry, closed_at = _closed(step, message)
    dept = message["order"]["department"]
    outcome = step.handle(entry, _callback(SENSOR_CASE, closed_at + 3_600_000, dept, "unsatisfied"))
    assert outcome.rejected is None and outcome.entry is not None
    steps = [r for name, r in outcome.sends if name == TRANSITIONS]
    assert [(r["action"], r["to_status"], r["result"]) for r in steps] == [
        ("callback", "closed", "unsatisfied"), ("reopen", "rework", ""),
    ]  # fmt: skip
    state = outcome.entry["state"]
    assert (state["status"], state["reopen_count"], state["closed_at_ms"]) == ("rework", 1, None)
    assert outcome.sends[0] == (CASE_STATE, outcome.sends[0][1])
    assert outcome.sends[0][1]["status"] == "rework"
    # the department's next feedback gets a fresh verify task (round 1)
    handle = _update(SENSOR_CASE, "handle", closed_at + 7_200_000, "c-9", dept)
    again = step.handle(outcome.entry, orjson.dumps(handle))
    assert again.entry is not None and again.entry["task"]["task_id"] == f"{SENSOR_CASE}:v1"


def test_a_satisfied_callback_is_stored_and_bad_callbacks_are_dead_letters(
    opened: dict[int, list[dict[str, Any]]], hotline_message: dict[str, Any], step: LifecycleStep
) -> None:
    message = hotline_message
    entry, closed_at = _closed(step, message)
    dept = message["order"]["department"]
    at = closed_at + 3_600_000
    good = step.handle(entry, _callback(SENSOR_CASE, at, dept, "basically_satisfied"))
    assert good.entry is not None and good.entry["state"]["status"] == "closed"
    assert [r["result"] for n, r in good.sends if n == TRANSITIONS] == ["basically_satisfied"]
    sensor_entry, sensor_closed = _closed(step, opened[SENSOR_CASE][0])  # not a hotline case
    opened_entry, _ = _opened_entry(step, message)
    bad = [
        (entry, _callback(SENSOR_CASE, at, dept, None), Reason.MISSING_FIELD),
        (entry, _callback(SENSOR_CASE, at, dept, "meh"), Reason.WRONG_TYPE),
        (entry, _callback(SENSOR_CASE, at, "harbour", "satisfied"), Reason.ILLEGAL_TRANSITION),
        (entry, _callback(SENSOR_CASE, closed_at - 1, dept, "satisfied"),
         Reason.ILLEGAL_TRANSITION),  # older than the closure
        (good.entry, _callback(SENSOR_CASE, at + 1, dept, "satisfied", "cb2"),
         Reason.ILLEGAL_TRANSITION),  # a second callback for the same closure
        (opened_entry, _callback(SENSOR_CASE, at, dept, "satisfied"), Reason.ILLEGAL_TRANSITION),
        (sensor_entry, _callback(SENSOR_CASE, sensor_closed + 1, dept, "satisfied"),
         Reason.ILLEGAL_TRANSITION),
        (None, _callback(SENSOR_CASE, at, dept, "satisfied"), Reason.UNKNOWN_CASE),
    ]  # fmt: skip
    for current, raw, reason in bad:
        outcome = step.handle(current, raw)
        assert outcome.rejected is not None and outcome.rejected[0] is reason, raw
        assert outcome.entry is None and outcome.sends == []


def test_closes_and_voids_go_back_to_every_tile_holding_the_case(
    opened: dict[int, list[dict[str, Any]]], step: LifecycleStep, engine: DedupEngine
) -> None:
    open_msg, close_msg = opened[PATROL_CASE]
    opening = step.handle(None, orjson.dumps(open_msg))
    assert opening.closures == []  # opening sends nothing to dedup
    on_spot = step.handle(opening.entry, orjson.dumps(close_msg))
    facts = open_msg["case"]
    tiles = engine.case_tiles(facts["lat"], facts["lon"], engine.table.id_of(facts["category_key"]))
    assert [tile for tile, _ in on_spot.closures] == tiles
    frames = {decode_closures(frame)[0] for _, frame in on_spot.closures}
    # closed on the spot at the event time, placed at the report's arrival in dedup
    assert close_msg["ts"] == facts["opened_at_ms"] < facts["ingest_time_ms"]
    assert frames == {Closure(facts["ingest_time_ms"], PATROL_CASE)}

    message = opened[SENSOR_CASE][0]
    case_id, dept = message["case"]["case_id"], message["order"]["department"]
    at = message["order"]["dispatched_at_ms"] + 60_000
    fresh = step.handle(None, orjson.dumps(message))
    signed = step.handle(fresh.entry, orjson.dumps(_update(case_id, "sign", at, "s-1", dept)))
    assert signed.rejected is None and signed.closures == []  # no close, no frame
    voided = step.handle(fresh.entry, orjson.dumps(_update(case_id, "void", at, "v-1", dept)))
    assert voided.rejected is None, voided.rejected
    assert {decode_closures(f)[0] for _, f in voided.closures} == {
        Closure(at, case_id, voided=True)
    }


def test_no_closures_leave_a_lifecycle_without_dedup_feedback(
    opened: dict[int, list[dict[str, Any]]], settings: Settings
) -> None:
    step = LifecycleStep.from_settings(settings.replace(dedup_closures=False))
    open_msg, close_msg = opened[PATROL_CASE]
    entry = step.handle(None, orjson.dumps(open_msg)).entry
    closed = step.handle(entry, orjson.dumps(close_msg))
    assert closed.entry is not None and closed.entry["state"]["status"] == "closed"
    assert closed.closures == []
