"""Verification (核查): after the department's feedback a supervisor checks the site.

Each time a case reaches ``handled`` the lifecycle issues a :class:`VerifyTask` on the
``verify.tasks`` topic: to the inspector who reported the case if it came from a patrol,
otherwise to the supervisor on duty for the case's street in the roster
(:class:`~streams.reference.supervisors.SupervisorRoster`), due within the verify limit of
the street's area type (urban 1 h, rural 2 h by default; clock time). The supervisor answers
on ``case.updates`` with ``verify_ok`` (closes the case) or ``verify_fail`` (返工, back to the
department); the lifecycle then publishes the task again, settled. A task's id is
``"{case_id}:v{rework_round}"`` (reworks before it), so replays never double-count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from streams.cases.lifecycle import CaseState
from streams.contracts.sources import Source
from streams.reference.supervisors import SupervisorRoster

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "TaskStatus",
    "VerifyDesk",
    "VerifyLimits",
    "VerifyTask",
    "VerifyTaskError",
    "settle_task",
]


class VerifyTaskError(ValueError):
    """A ``verify.tasks`` record is malformed."""


class TaskStatus(StrEnum):
    OPEN = "open"
    PASSED = "passed"  # verify_ok: the case is closed (结案)
    FAILED = "failed"  # verify_fail: back to the department (返工)
    VOIDED = "voided"  # the case was voided before anyone verified it


# the case transition that settles an open task -> the task's new status
_SETTLED_BY = {"verify_ok": TaskStatus.PASSED, "verify_fail": TaskStatus.FAILED}


@dataclass(frozen=True)
class VerifyLimits:
    """Clock time from the department's feedback to the verification, by area type."""

    urban_ms: int
    rural_ms: int

    def __post_init__(self) -> None:
        if self.urban_ms <= 0 or self.rural_ms <= 0:
            raise ValueError(f"verify limits must be > 0: {self}")

    @classmethod
    def from_settings(cls, settings: Settings) -> VerifyLimits:
        return cls(settings.verify.limit_urban_s * 1000, settings.verify.limit_rural_s * 1000)

    def limit_ms(self, area: str) -> int:
        if area == "urban":
            return self.urban_ms
        if area == "rural":
            return self.rural_ms
        raise ValueError(f"area must be urban or rural, got {area!r}")


_INT_FIELDS = ("case_id", "rework_round", "issued_at_ms", "due_at_ms")
_STR_FIELDS = (
    "task_id",
    "supervisor",
    "basis",
    "department",
    "category_key",
    "grid_code",
    "street",
    "area",
)


@dataclass(frozen=True)
class VerifyTask:
    """One ``verify.tasks`` record: a verification to do, or done."""

    task_id: str
    case_id: int
    rework_round: int  # reworks before this verification (0: the first one)
    supervisor: str
    basis: str  # "reporter": the patrol inspector's own case; "roster": on duty there
    department: str
    category_key: str
    grid_code: str
    street: str
    area: str  # urban | rural (the roster's area type of the street)
    issued_at_ms: int  # the department's feedback (处置反馈)
    due_at_ms: int
    status: TaskStatus = TaskStatus.OPEN
    settled_at_ms: int | None = None  # verification (or void) time
    note: str = ""
    hotline: bool = False  # a hotline case: its closure is called back (回访)

    @property
    def version(self) -> int:
        """Settled records replace the open one (``verify_tasks`` keeps the highest)."""
        return 0 if self.status is TaskStatus.OPEN else 1

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyTask:
        names = {f.name for f in dataclasses.fields(cls)}
        if set(data) - names:
            raise VerifyTaskError(f"verify task has unknown fields {sorted(set(data) - names)}")
        try:
            for name in _INT_FIELDS:
                if type(data[name]) is not int:
                    raise VerifyTaskError(f"verify task: {name} must be an integer")
            for name in _STR_FIELDS:
                if not isinstance(data[name], str):
                    raise VerifyTaskError(f"verify task: {name} must be a string")
            if type(data.get("hotline", False)) is not bool:
                raise VerifyTaskError("verify task: hotline must be true or false")
            settled = data.get("settled_at_ms")
            if settled is not None and type(settled) is not int:
                raise VerifyTaskError("verify task: settled_at_ms must be an integer or null")
            return cls(**{**data, "status": TaskStatus(data.get("status", "open"))})
        except KeyError as exc:
            raise VerifyTaskError(f"verify task lacks {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, VerifyTaskError):
                raise
            raise VerifyTaskError(f"bad verify task: {exc}") from exc


class VerifyDesk:
    """Assigns verify tasks: the roster, the limits and the district's time zone."""

    def __init__(self, roster: SupervisorRoster, limits: VerifyLimits, timezone: str) -> None:
        self.roster, self.limits, self.zone = roster, limits, ZoneInfo(timezone)

    @classmethod
    def from_settings(cls, settings: Settings) -> VerifyDesk:
        return cls(
            SupervisorRoster.load(settings.verify.roster_file),
            VerifyLimits.from_settings(settings),
            settings.calendar.timezone,
        )

    def _local_minute(self, ms: int) -> int:
        local = datetime.fromtimestamp(ms / 1000, self.zone)
        return local.hour * 60 + local.minute

    def issue(self, state: CaseState, facts: Mapping[str, Any]) -> VerifyTask:
        """The task for ``state``'s latest feedback; ``facts`` are the case's opening facts
        (``grid_code``, ``source``, ``reporter``) as the lifecycle keeps them."""
        if state.handled_at_ms is None:
            raise ValueError(f"case {state.case_id}: no feedback to verify")
        grid = str(facts.get("grid_code") or "")
        street = grid[:9]
        area = self.roster.area_of(street)
        issued = state.handled_at_ms
        reporter = str(facts.get("reporter") or "")
        if facts.get("source") == Source.PATROL and reporter:
            supervisor, basis = reporter, "reporter"
        else:
            minute = self._local_minute(issued)
            supervisor, basis = self.roster.on_duty(street, minute, state.case_id), "roster"
        return VerifyTask(
            task_id=f"{state.case_id}:v{state.rework_count}",
            case_id=state.case_id,
            rework_round=state.rework_count,
            supervisor=supervisor,
            basis=basis,
            department=state.department,
            category_key=state.category_key,
            grid_code=grid,
            street=street,
            area=area,
            issued_at_ms=issued,
            due_at_ms=issued + self.limits.limit_ms(area),
            hotline=state.hotline,
        )


def settle_task(task: VerifyTask, transition: Mapping[str, Any]) -> VerifyTask | None:
    """The task as ``transition`` (a ``case.transitions`` record) leaves it; None when the
    transition does not settle it."""
    if task.status is not TaskStatus.OPEN or int(transition["case_id"]) != task.case_id:
        return None
    action = str(transition["action"])
    status = _SETTLED_BY.get(action)
    if status is None and transition["to_status"] == "voided":
        status = TaskStatus.VOIDED
    if status is None:
        return None
    return dataclasses.replace(
        task, status=status, settled_at_ms=int(transition["ts_ms"]), note=str(transition["note"])
    )
