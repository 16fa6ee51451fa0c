"""Dispatch (派遣): route a newly opened case to its department with a handling deadline.

The dispatch step itself has a clock-time limit counted from the opening of the case
(urgent 10 min / normal 30 min in published city rules; ``dispatch_limit_*_s`` settings).
The handling deadline is counted from the dispatch, on the working-hours calendar.

A department may return (退单) a case within ``dispatch_return_limit_hours`` of its dispatch
(working hours; clock hours for urgent cases, like their deadlines); the centre then
re-dispatches it (:func:`make_redispatch`): a new order of the next ``round`` whose handling
deadline restarts in full from the re-dispatch. The re-dispatch keeps the facts of the
first dispatch step (opening, dispatch due time, dispatched on time), which the 及时派遣率
is about: a return is counted against the department (退单率), not against the centre.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from streams.cases.calendar import DeadlineUnit, WorkCalendar

if TYPE_CHECKING:
    from streams.reference.categories import CategoryTable
    from streams.settings import Settings

__all__ = [
    "URGENCY_VALUES",
    "CategoryRule",
    "DispatchError",
    "DispatchLimits",
    "DispatchOrder",
    "make_dispatch",
    "make_redispatch",
    "rules_by_key",
]

URGENCY_VALUES = ("urgent", "normal")  # the ``urgency`` column of the category table


class DispatchError(ValueError):
    """A category rule, a dispatch request or a dispatch record is invalid."""


def _unit(key: str, raw: object) -> DeadlineUnit:
    try:
        return DeadlineUnit(str(raw).strip())
    except ValueError as exc:
        allowed = "|".join(u.value for u in DeadlineUnit)
        raise DispatchError(
            f"category {key}: deadline_unit must be {allowed}, got {raw!r}"
        ) from exc


@dataclass(frozen=True)
class CategoryRule:
    """The part of a category row that dispatch needs."""

    key: str
    department: str
    deadline_value: float
    deadline_unit: DeadlineUnit
    urgent: bool

    def __post_init__(self) -> None:
        if not self.key or not self.department:
            raise DispatchError(f"category rule needs a key and a department: {self}")
        if not self.deadline_value > 0:
            raise DispatchError(f"category {self.key}: deadline_value must be > 0")
        # Accept the plain string too, so a rule built by hand is checked like a table row.
        object.__setattr__(self, "deadline_unit", _unit(self.key, self.deadline_unit))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CategoryRule:
        """Build from a category-table row (``csv.DictReader`` style, strings allowed)."""
        missing = [
            k
            for k in ("key", "department", "deadline_value", "deadline_unit", "urgency")
            if k not in row
        ]
        if missing:
            raise DispatchError(f"category row lacks {', '.join(missing)}: {dict(row)}")
        urgency = str(row["urgency"]).strip()
        if urgency not in URGENCY_VALUES:
            raise DispatchError(f"category {row['key']}: urgency must be urgent|normal")
        try:
            value = float(row["deadline_value"])
        except (TypeError, ValueError) as exc:
            raise DispatchError(f"category {row['key']}: bad deadline_value") from exc
        return cls(
            key=str(row["key"]).strip(),
            department=str(row["department"]).strip(),
            deadline_value=value,
            deadline_unit=_unit(str(row["key"]), row["deadline_unit"]),
            urgent=urgency == "urgent",
        )


def rules_by_key(table: CategoryTable) -> dict[str, CategoryRule]:
    """The dispatch rule of every category of ``table``, by category key."""
    return {
        c.key: CategoryRule(
            c.key,
            c.department,
            float(c.deadline_value),
            DeadlineUnit(c.deadline_unit),
            c.urgency == "urgent",
        )
        for c in table.by_key.values()
    }


@dataclass(frozen=True)
class DispatchLimits:
    """Clock-time limits for opening + dispatching a case (values come from settings)."""

    urgent_ms: int
    normal_ms: int
    return_hours: float = 2.0  # 退单 window after a dispatch (working hours, see module doc)

    def __post_init__(self) -> None:
        if self.urgent_ms <= 0 or self.normal_ms <= 0 or not self.return_hours > 0:
            raise DispatchError(f"dispatch limits must be > 0: {self}")

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatchLimits:
        return cls(
            urgent_ms=settings.dispatch.limit_urgent_s * 1000,
            normal_ms=settings.dispatch.limit_normal_s * 1000,
            return_hours=settings.dispatch.return_limit_hours,
        )

    def limit_ms(self, urgent: bool) -> int:
        return self.urgent_ms if urgent else self.normal_ms

    def return_due(self, calendar: WorkCalendar, dispatched_at_ms: int, urgent: bool) -> int:
        """The last instant a department may return a case dispatched at ``dispatched_at_ms``."""
        return calendar.deadline_for(
            dispatched_at_ms, self.return_hours, DeadlineUnit.WORK_HOURS, urgent
        )


_INT_FIELDS = ("case_id", "opened_at_ms", "dispatched_at_ms", "dispatch_due_ms", "deadline_ms")


@dataclass(frozen=True)
class DispatchOrder:
    """One record of the ``dispatch`` topic (keyed by department)."""

    case_id: int
    category_key: str
    department: str
    urgent: bool
    opened_at_ms: int
    dispatched_at_ms: int
    dispatch_due_ms: int  # opening + dispatch limit (clock time)
    dispatched_on_time: bool
    deadline_value: float
    deadline_unit: DeadlineUnit
    deadline_ms: int  # handling deadline, counted from the dispatch
    return_due_ms: int = 0  # the department may return the case until then (退单)
    round: int = 0  # 0: the first dispatch, n: the re-dispatch after the n-th return

    @property
    def update_id(self) -> str:
        """Update id under which the lifecycle records this dispatch (replays are no-ops)."""
        suffix = f":r{self.round}" if self.round else ""
        return f"dispatch:{self.case_id}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["deadline_unit"] = self.deadline_unit.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DispatchOrder:
        try:
            for name in _INT_FIELDS:
                if type(data[name]) is not int:
                    raise DispatchError(f"dispatch order: {name} must be an integer")
            return cls(
                case_id=data["case_id"],
                category_key=str(data["category_key"]),
                department=str(data["department"]),
                urgent=bool(data["urgent"]),
                opened_at_ms=data["opened_at_ms"],
                dispatched_at_ms=data["dispatched_at_ms"],
                dispatch_due_ms=data["dispatch_due_ms"],
                dispatched_on_time=bool(data["dispatched_on_time"]),
                deadline_value=float(data["deadline_value"]),
                deadline_unit=DeadlineUnit(data["deadline_unit"]),
                deadline_ms=data["deadline_ms"],
                # Orders written before returns existed had no return window: a return
                # against one is after the limit, which is what their departments knew.
                return_due_ms=_optional_int(data, "return_due_ms", data["dispatched_at_ms"]),
                round=_optional_int(data, "round", 0),
            )
        except KeyError as exc:
            raise DispatchError(f"dispatch order lacks {exc.args[0]!r}") from exc
        except ValueError as exc:
            if isinstance(exc, DispatchError):
                raise
            raise DispatchError(f"dispatch order: {exc}") from exc


def _optional_int(data: Mapping[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if type(value) is not int or value < 0:
        raise DispatchError(f"dispatch order: {name} must be a non-negative integer")
    return value


def make_dispatch(
    case_id: int,
    opened_at_ms: int,
    rule: CategoryRule,
    calendar: WorkCalendar,
    now_ms: int,
    *,
    limits: DispatchLimits,
) -> DispatchOrder:
    """Dispatch case ``case_id`` (opened at ``opened_at_ms``) at ``now_ms`` under ``rule``.

    ``now_ms`` is the dispatch time: wall time in the live pipeline, event time in replays.
    """
    if case_id < 0:
        raise DispatchError(f"case id must be >= 0, got {case_id}")
    if now_ms < opened_at_ms:
        raise DispatchError(
            f"case {case_id}: dispatch at {now_ms} precedes its opening at {opened_at_ms}"
        )
    due = opened_at_ms + limits.limit_ms(rule.urgent)
    return DispatchOrder(
        case_id=case_id,
        category_key=rule.key,
        department=rule.department,
        urgent=rule.urgent,
        opened_at_ms=opened_at_ms,
        dispatched_at_ms=now_ms,
        dispatch_due_ms=due,
        dispatched_on_time=now_ms <= due,
        deadline_value=rule.deadline_value,
        deadline_unit=rule.deadline_unit,
        deadline_ms=calendar.deadline_for(
            now_ms, rule.deadline_value, rule.deadline_unit, rule.urgent
        ),
        return_due_ms=limits.return_due(calendar, now_ms, rule.urgent),
    )


def make_redispatch(
    first: DispatchOrder,
    rule: CategoryRule,
    department: str,
    calendar: WorkCalendar,
    now_ms: int,
    *,
    limits: DispatchLimits,
    round_: int,
) -> DispatchOrder:
    """Re-dispatch ``first``'s case to ``department`` at ``now_ms`` after its ``round_``-th
    return: the handling deadline (``rule``'s time limit) and the return window restart
    from ``now_ms``; the facts of the first dispatch step stay."""
    if round_ < 1:
        raise DispatchError(f"case {first.case_id}: a re-dispatch has round >= 1")
    if not department:
        raise DispatchError(f"case {first.case_id}: a re-dispatch needs a department")
    if now_ms < first.dispatched_at_ms:
        raise DispatchError(f"case {first.case_id}: re-dispatch before the dispatch")
    return dataclasses.replace(
        first,
        category_key=rule.key,
        department=department,
        urgent=rule.urgent,
        dispatched_at_ms=now_ms,
        deadline_value=rule.deadline_value,
        deadline_unit=rule.deadline_unit,
        deadline_ms=calendar.deadline_for(
            now_ms, rule.deadline_value, rule.deadline_unit, rule.urgent
        ),
        return_due_ms=limits.return_due(calendar, now_ms, rule.urgent),
        round=round_,
    )
