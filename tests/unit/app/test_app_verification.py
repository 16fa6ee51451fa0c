"""The lifecycle agent's path for verification (核查): verify tasks issued on feedback and
settled by the result, and every bad verify result rejected with a reason, changing nothing."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from app_cases import SENSOR_CASE

from streams.app.dispatch_agent import Dispatcher
from streams.app.lifecycle_agent import LifecycleStep, Outcome
from streams.cases.lifecycle import CaseState
from streams.cases.transitions import CENTRE_ACTOR, Status
from streams.cases.verification import TaskStatus, VerifyTask
from streams.contracts.reasons import Reason
from streams.contracts.topics import CASE_STATE, TRANSITIONS, VERIFY_TASKS
from streams.dedup.engine import DedupEngine
from streams.settings import Settings

MIN = 60_000
INSPECTOR = "INS-017"


@pytest.fixture(scope="module")
def step(settings: Settings) -> LifecycleStep:
    return LifecycleStep.from_settings(settings)


@pytest.fixture(scope="module")
def open_message(settings: Settings, engine: DedupEngine) -> dict[str, Any]:
    from app_cases import case_rows

    return Dispatcher(settings).messages(case_rows(engine)[SENSOR_CASE])[0][0]


class Desk:
    """Feeds raw case.updates messages through LifecycleStep.handle like the agent does."""

    def __init__(self, step: LifecycleStep, message: dict[str, Any]) -> None:
        self.step, self.entry = step, None
        self.case_id = int(message["case"]["case_id"])
        self.department = str(message["order"]["department"])
        self.ts = int(message["order"]["dispatched_at_ms"])
        self.n = 0
        assert self.send(message).rejected is None

    def send(self, value: Any) -> Outcome:
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        outcome = self.step.handle(copy.deepcopy(self.entry), raw)
        if outcome.entry is not None:
            self.entry = outcome.entry
        return outcome

    def update(self, action: str, actor: str = "municipal-03", **change: Any) -> dict[str, Any]:
        self.n += 1
        self.ts += 10 * MIN
        return {
            "update_id": f"t-{self.n}",
            "case_id": self.case_id,
            "action": action,
            "actor": actor,
            "department": self.department,
            "ts": self.ts,
            "note": "",
        } | change

    @property
    def state(self) -> CaseState:
        assert self.entry is not None
        return CaseState.from_dict(self.entry["state"])


def _tasks(outcome: Outcome) -> list[VerifyTask]:
    return [VerifyTask.from_dict(v) for topic, v in outcome.sends if topic == VERIFY_TASKS]


def _handled(step: LifecycleStep, message: dict[str, Any]) -> tuple[Desk, VerifyTask]:
    desk = Desk(step, message)
    desk.send(desk.update("sign"))
    outcome = desk.send(desk.update("handle"))
    (task,) = _tasks(outcome)
    return desk, task


def test_feedback_issues_a_task_to_the_supervisor_on_duty(
    step: LifecycleStep, open_message: dict[str, Any]
) -> None:
    desk = Desk(step, open_message)
    desk.send(desk.update("sign"))
    outcome = desk.send(desk.update("handle"))
    assert [topic for topic, _ in outcome.sends] == [CASE_STATE, TRANSITIONS, VERIFY_TASKS]
    (task,) = _tasks(outcome)
    grid = open_message["case"]["grid_code"]
    assert task.task_id == f"{desk.case_id}:v0" and task.rework_round == 0
    assert (task.basis, task.grid_code, task.street) == ("roster", grid, grid[:9])
    assert task.supervisor in step.desk.roster.supervisors()
    assert task.supervisor.startswith(f"SUP-{grid[6:9]}-")  # the street's own supervisors
    limit = step.desk.limits.limit_ms(task.area)
    assert (task.issued_at_ms, task.due_at_ms) == (desk.ts, desk.ts + limit)
    assert task.status is TaskStatus.OPEN and task.department == desk.department
    assert desk.state.verifier == task.supervisor
    assert desk.entry is not None and desk.entry["task"] == task.to_dict()


def test_a_patrol_case_is_verified_by_the_inspector_who_reported_it(
    step: LifecycleStep, open_message: dict[str, Any]
) -> None:
    patrol = copy.deepcopy(open_message)
    patrol["case"].update(source=2, reporter=INSPECTOR)
    desk, task = _handled(step, patrol)
    assert (task.supervisor, task.basis) == (INSPECTOR, "reporter")
    outcome = desk.send(desk.update("verify_ok", actor=INSPECTOR))
    assert outcome.rejected is None and desk.state.status is Status.CLOSED


def test_fail_sends_it_back_and_the_next_feedback_gets_a_new_task(
    step: LifecycleStep, open_message: dict[str, Any]
) -> None:
    desk, task = _handled(step, open_message)
    reason = "still broken on site"
    outcome = desk.send(desk.update("verify_fail", actor=task.supervisor, note=reason))
    (failed,) = _tasks(outcome)
    assert (failed.task_id, failed.status, failed.note) == (task.task_id, TaskStatus.FAILED, reason)
    assert failed.settled_at_ms == desk.ts and failed.version == 1
    assert desk.state.status is Status.REWORK and desk.entry and desk.entry["task"] is None
    (again,) = _tasks(desk.send(desk.update("handle")))
    assert again.task_id == f"{desk.case_id}:v1" and again.rework_round == 1
    (passed,) = _tasks(desk.send(desk.update("verify_ok", actor=CENTRE_ACTOR)))
    assert passed.status is TaskStatus.PASSED and desk.state.status is Status.CLOSED


def test_voiding_a_handled_case_voids_its_task(
    step: LifecycleStep, open_message: dict[str, Any]
) -> None:
    desk, task = _handled(step, open_message)
    (voided,) = _tasks(desk.send(desk.update("void", actor=CENTRE_ACTOR)))
    assert (voided.task_id, voided.status) == (task.task_id, TaskStatus.VOIDED)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"actor": "SUP-006-03"}, Reason.WRONG_ACTOR),  # not the assigned supervisor
        ({"actor": "municipal-03"}, Reason.WRONG_ACTOR),  # the department verifying itself
        ({"action": "verify_maybe"}, Reason.ILLEGAL_TRANSITION),
        ({"actor": None}, Reason.MISSING_FIELD),
        ({"ts": "yesterday"}, Reason.BAD_TIME),
        ({"ts": 1}, Reason.ILLEGAL_TRANSITION),  # older than the feedback
        ({"case_id": [1]}, Reason.WRONG_TYPE),
        ({"department": "greening"}, Reason.ILLEGAL_TRANSITION),
        ({"case_id": 999_999_999}, Reason.UNKNOWN_CASE),
    ],
)
def test_bad_verify_results_are_rejected_and_change_nothing(
    step: LifecycleStep, open_message: dict[str, Any], change: dict[str, Any], reason: Reason
) -> None:
    desk, task = _handled(step, open_message)
    before = copy.deepcopy(desk.entry)
    value = desk.update("verify_ok", actor=task.supervisor) | change
    if change.get("case_id") == 999_999_999:
        outcome = step.handle(None, orjson.dumps(value))  # the agent's table has no entry
    else:
        outcome = desk.send(value)
    assert outcome.rejected is not None and outcome.rejected[0] is reason, outcome.rejected
    assert outcome.entry is None and outcome.sends == []
    assert desk.entry == before
    # the right supervisor's result still goes through afterwards
    assert desk.send(desk.update("verify_ok", actor=task.supervisor)).rejected is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", Reason.MALFORMED_JSON),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b'{"kind": "open"}', Reason.WRONG_TYPE),
    ],
)
def test_malformed_messages_are_rejected(
    step: LifecycleStep, open_message: dict[str, Any], raw: bytes, reason: Reason
) -> None:
    desk, _ = _handled(step, open_message)
    outcome = desk.send(raw)
    assert outcome.rejected is not None and outcome.rejected[0] is reason
    assert outcome.sends == [] and outcome.entry is None


def test_verifying_twice_is_illegal_and_a_replay_is_a_no_op(
    step: LifecycleStep, open_message: dict[str, Any]
) -> None:
    desk, task = _handled(step, open_message)
    ok = desk.update("verify_ok", actor=task.supervisor)
    assert desk.send(ok).rejected is None
    assert desk.send(ok) == Outcome()  # redelivered: nothing again
    second = desk.send(desk.update("verify_fail", actor=task.supervisor))
    assert second.rejected is not None and second.rejected[0] is Reason.ILLEGAL_TRANSITION
