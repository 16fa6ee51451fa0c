"""The department desk and the supervisor desk: what each sees, and each action checked
against the case loop (streams/cases/transitions.py) before it goes to ``case.updates``.

The api checks on the case as ClickHouse has it (a second or two behind the lifecycle);
the lifecycle checks again on its own state and dead-letters what slipped through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from streams.api.http import MEDIA_URL, ApiError
from streams.cases.transitions import TRANSITIONS, Action, Status

__all__ = [
    "DEPARTMENT_ACTIONS",
    "DeskAction",
    "allowed_actions",
    "case_view",
    "check_transition",
    "parse_action",
    "parse_verdict",
    "task_view",
]

# the department's own steps of the loop (sign, report handled, return, hold, resume)
DEPARTMENT_ACTIONS: Mapping[str, Action] = {
    a.value: a for a in (Action.SIGN, Action.HANDLE, Action.RETURN, Action.HOLD, Action.RESUME)
}
VERDICTS: Mapping[str, Action] = {"pass": Action.VERIFY_OK, "fail": Action.VERIFY_FAIL}
MAX_MEDIA = 10
MAX_NOTE = 2000


@dataclass(frozen=True)
class DeskAction:
    action: Action
    note: str = ""
    media_urls: tuple[str, ...] = ()
    to_department: str = ""


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the JSON body must be an object")
    return data


def _str(data: Mapping[str, Any], name: str, limit: int = MAX_NOTE) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ApiError(400, f"{name} is longer than {limit} characters")
    return value.strip()


def _media(data: Mapping[str, Any]) -> tuple[str, ...]:
    value = data.get("media_urls", [])
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise ApiError(400, "media_urls must be a list of URLs")
    if len(value) > MAX_MEDIA:
        raise ApiError(400, f"at most {MAX_MEDIA} media_urls")
    bad = [u[:80] for u in value if not MEDIA_URL.fullmatch(u)]
    if bad:
        raise ApiError(400, f"media_urls must be http(s) URLs: {bad}")
    return tuple(value)


def _known(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise ApiError(400, f"unknown fields {sorted(unknown)}")


def parse_action(body: bytes, departments: frozenset[str]) -> DeskAction:
    """A department's action: ``{"action", "note", "media_urls", "to_department"}``."""
    data = _object(body)
    _known(data, ("action", "note", "media_urls", "to_department"))
    name = _str(data, "action", 20)
    action = DEPARTMENT_ACTIONS.get(name)
    if action is None:
        raise ApiError(400, f"action must be one of {sorted(DEPARTMENT_ACTIONS)}, got {name!r}")
    note, target = _str(data, "note"), _str(data, "to_department", 60)
    if action is Action.RETURN and not note:
        raise ApiError(400, "a return needs its reason in note")
    if target and action is not Action.RETURN:
        raise ApiError(400, "to_department goes with a return only")
    if target and target not in departments:
        raise ApiError(400, f"to_department {target!r} is not a department")
    return DeskAction(action, note, _media(data), target)


def parse_verdict(body: bytes) -> DeskAction:
    """A supervisor's verdict: ``{"result": "pass"|"fail", "reason", "media_urls"}``."""
    data = _object(body)
    _known(data, ("result", "reason", "media_urls"))
    result = _str(data, "result", 10)
    action = VERDICTS.get(result)
    if action is None:
        raise ApiError(400, f"result must be pass or fail, got {result!r}")
    reason = _str(data, "reason")
    if action is Action.VERIFY_FAIL and not reason:
        raise ApiError(400, "a failed verification needs its reason")
    return DeskAction(action, reason, _media(data))


def allowed_actions(status: str) -> list[str]:
    """The department actions the loop allows from ``status``."""
    return [n for n, a in DEPARTMENT_ACTIONS.items() if (Status(status), a) in TRANSITIONS]


def check_transition(case: Mapping[str, Any], action: Action) -> None:
    """409 unless the loop allows ``action`` from the case's status."""
    status = str(case["status"])
    if (Status(status), action) not in TRANSITIONS:
        raise ApiError(
            409, f"case {case['case_id']} is {status}: {action.value} is not allowed now"
        )


def case_view(
    case: Mapping[str, Any], escalations: list[dict[str, Any]], now_ms: int
) -> dict[str, Any]:
    """A case as the department desk lists it."""
    deadline = int(case["deadline"]) or None  # 0: not dispatched, or on hold (paused)
    return {
        "case_id": int(case["case_id"]),
        "status": case["status"],
        "category_key": case["category_key"],
        "urgent": bool(case["urgent"]),
        "street": case["street"],
        "grid_code": case["grid_code"],
        "lat": case["lat"],
        "lon": case["lon"],
        "opened_at_ms": case["opened_at"],
        "dispatched_at_ms": case["dispatched_at"],
        "deadline_ms": deadline,
        "time_left_s": None if deadline is None else (deadline - now_ms) // 1000,
        "overdue": deadline is not None and now_ms > deadline,
        "rework_count": int(case["rework_count"]),
        "escalations": [
            {"level": e["level"], "escalated_at_ms": e["escalated_at"]} for e in escalations
        ],
        "allowed_actions": allowed_actions(str(case["status"])),
    }


def task_view(task: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """A verify task as the supervisor desk lists it."""
    return {
        "task_id": task["task_id"],
        "case_id": int(task["case_id"]),
        "rework_round": int(task["rework_round"]),
        "department": task["department"],
        "category_key": task["category_key"],
        "street": task["street"],
        "grid_code": task["grid_code"],
        "area": task["area"],
        "issued_at_ms": task["issued_at"],
        "due_at_ms": task["due_at"],
        "time_left_s": (int(task["due_at"]) - now_ms) // 1000,
    }
