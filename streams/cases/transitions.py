"""What may happen to a case and the records that say so: statuses, actions, the one table
of transitions (:data:`TRANSITIONS`), the ``case.updates`` record (:class:`CaseUpdate`) and
the stored step (:class:`Transition`). The state machine that applies them is
:mod:`streams.cases.lifecycle`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from streams.contracts.reasons import Reason

__all__ = [
    "CENTRE_ACTIONS",
    "CENTRE_ACTOR",
    "MAX_REOPENS",
    "TERMINAL",
    "TRANSITIONS",
    "UPDATE_ACTIONS",
    "Action",
    "CallbackResult",
    "CaseUpdate",
    "LifecycleError",
    "Status",
    "Transition",
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
