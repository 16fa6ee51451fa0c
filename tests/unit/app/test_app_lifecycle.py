"""The lifecycle agent's pure part: case.updates values against the case state."""

from __future__ import annotations

from typing import Any

import pytest
from app_cases import PATROL_CASE, SENSOR_CASE, case_rows

from streams.app.dispatch_agent import Dispatcher
from streams.app.lifecycle_agent import LifecycleStep
from streams.cases.lifecycle import LifecycleError, Status
from streams.cases.records import case_state_record as case_row_of
from streams.contracts.reasons import Reason
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
