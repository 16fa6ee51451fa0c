"""Department simulator: the updates a real department would send for a dispatched case.

Pure and seeded. Each case draws from its own RNG, seeded by a hash of (seed, case id), so
a case's updates do not depend on which other cases were simulated or in what order.
Delays are measured the way the case's deadline is (working time, or clock time for urgent
and clock-hour categories), so a category's time limit sets how long its handling takes.
The department stops at its feedback (处置反馈); verification is the supervisors' job
(:mod:`streams.cases.supervisor_sim`), and a failed one comes back here as a rework
(:func:`simulate_rework`). A small share of first dispatches is returned (退单) as misrouted,
to another department, within the order's return window; the re-dispatched order is then
handled like any other (a re-dispatch is never returned again here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass, fields
from typing import Any

from streams.cases.calendar import DeadlineUnit, WorkCalendar
from streams.cases.dispatch import CategoryRule, DispatchOrder
from streams.cases.transitions import CENTRE_ACTOR, Action, CaseUpdate
from streams.cases.verification import TaskStatus, VerifyTask

__all__ = [
    "DepartmentSimConfig",
    "case_rng",
    "simulate_department",
    "simulate_on_spot",
    "simulate_reopen",
    "simulate_rework",
]

MINUTE_MS = 60_000


@dataclass(frozen=True)
class DepartmentSimConfig:
    """Shares and delay ranges (``(low, high)``, drawn uniformly) of the simulator."""

    sign_minutes: tuple[float, float] = (2.0, 30.0)  # dispatch -> sign, clock
    urgent_sign_minutes: tuple[float, float] = (1.0, 8.0)
    handle_fraction: tuple[float, float] = (0.15, 0.95)  # of the time left, on-time cases
    overdue_share: float = 0.12
    overdue_by_category: tuple[tuple[str, float], ...] = ()  # (category key, share) overrides
    overdue_fraction: tuple[float, float] = (0.05, 1.0)  # overshoot, of the time limit
    resign_share: float = 0.5  # reworked cases signed for again before re-handling
    rework_fraction: tuple[float, float] = (0.1, 0.5)  # redo time, of the time limit
    hold_share: float = 0.02
    hold_hours: tuple[float, float] = (2.0, 48.0)  # clock
    void_share: float = 0.01
    void_minutes: tuple[float, float] = (10.0, 240.0)  # last step -> void, clock
    return_share: float = 0.03  # first dispatches returned as misrouted (退单)
    return_minutes: tuple[float, float] = (5.0, 90.0)  # dispatch -> return, clock
    reopen_hours: tuple[float, float] = (1.0, 16.0)  # reopened -> new feedback, working

    def __post_init__(self) -> None:
        for f in fields(self):
            value: Any = getattr(self, f.name)
            if f.name.endswith("_share") and not 0.0 <= value <= 1.0:
                raise ValueError(f"department sim: {f.name} must be in [0, 1], got {value}")
            if isinstance(value, tuple) and f.name != "overdue_by_category":
                low, high = value
                if not 0 <= low <= high:
                    raise ValueError(f"department sim: {f.name} must be 0 <= low <= high")
        for key, share in self.overdue_by_category:
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"department sim: overdue share of {key} must be in [0, 1]")

    def overdue_share_for(self, category_key: str) -> float:
        return dict(self.overdue_by_category).get(category_key, self.overdue_share)


def case_rng(seed: int, case_id: int, stage: str = "") -> random.Random:
    """The RNG of one case (and stage, e.g. a rework round): independent of processing
    order and of other cases."""
    text = f"{seed}:{case_id}" + (f":{stage}" if stage else "")
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little"))


class _Clock:
    """Time arithmetic in the unit the case's deadline is counted in."""

    def __init__(self, urgent: bool, unit: DeadlineUnit, calendar: WorkCalendar) -> None:
        self.on_clock = urgent or unit is DeadlineUnit.CLOCK_HOURS
        self.calendar = calendar

    def advance(self, start_ms: int, span_ms: int) -> int:
        span_ms = max(span_ms, 0)
        return start_ms + span_ms if self.on_clock else self.calendar.add_work_ms(start_ms, span_ms)

    def span(self, a_ms: int, b_ms: int) -> int:
        return b_ms - a_ms if self.on_clock else self.calendar.work_ms_between(a_ms, b_ms)


class _Script:
    """Collects updates with strictly increasing times and stable ids."""

    def __init__(
        self, case_id: int, department: str, start_ms: int, rng: random.Random, prefix: str = "u"
    ) -> None:
        self.case_id, self.department, self.rng, self.prefix = case_id, department, rng, prefix
        self.updates: list[CaseUpdate] = []
        self.now = start_ms
        self.staff = f"{department}-{rng.randint(1, 20):02d}"

    def minutes(self, bounds: tuple[float, float]) -> int:
        return round(self.rng.uniform(*bounds) * MINUTE_MS)

    def emit(self, action: Action, ts_ms: int, actor: str, note: str = "") -> int:
        self.now = max(ts_ms, self.now + MINUTE_MS)
        self.updates.append(
            CaseUpdate(
                update_id=f"{self.case_id}-{self.prefix}{len(self.updates) + 1}",
                case_id=self.case_id,
                action=action,
                actor=actor,
                department=self.department,
                ts_ms=self.now,
                note=note,
            )
        )
        return self.now


def _handle_at(
    order: DispatchOrder,
    script: _Script,
    clock: _Clock,
    deadline_ms: int,
    overdue: bool,
    cfg: DepartmentSimConfig,
) -> int:
    rng, start = script.rng, script.now
    if overdue:
        limit = clock.span(order.dispatched_at_ms, order.deadline_ms)
        overshoot = max(MINUTE_MS, round(rng.uniform(*cfg.overdue_fraction) * limit))
        return clock.advance(max(deadline_ms, start), overshoot)
    left = clock.span(start, deadline_ms)
    return clock.advance(start, round(rng.uniform(*cfg.handle_fraction) * left))


def _returned(
    order: DispatchOrder,
    script: _Script,
    departments: tuple[str, ...],
    cfg: DepartmentSimConfig,
    seed: int,
) -> bool:
    """Whether the department returns ``order`` (then the return is in ``script``)."""
    others = sorted(set(departments) - {order.department})
    # its own RNG stage, so that the cases not returned are simulated as before returns
    rng = case_rng(seed, order.case_id, "return")
    draw, pick, delay = rng.random(), rng.randrange(max(len(others), 1)), rng.uniform(0, 1)
    if order.round or not others or draw >= cfg.return_share:
        return False
    low, high = cfg.return_minutes
    at = min(order.dispatched_at_ms + round((low + delay * (high - low)) * MINUTE_MS),
             order.return_due_ms)  # fmt: skip
    if at < order.dispatched_at_ms + MINUTE_MS:  # no window (an order from before returns)
        return False
    script.emit(Action.RETURN, at, script.staff, note="misrouted: not ours")
    script.updates[-1] = dataclasses.replace(script.updates[-1], to_department=others[pick])
    return True


def simulate_department(
    order: DispatchOrder,
    calendar: WorkCalendar,
    *,
    seed: int,
    config: DepartmentSimConfig | None = None,
    departments: tuple[str, ...] = (),
) -> list[CaseUpdate]:
    """The timed updates the department sends for ``order``: its feedback, a void, or a
    return to one of ``departments``."""
    cfg = config or DepartmentSimConfig()
    stage = f"round{order.round}" if order.round else ""
    rng = case_rng(seed, order.case_id, stage)
    clock = _Clock(order.urgent, order.deadline_unit, calendar)
    prefix = f"d{order.round}-u" if order.round else "u"
    script = _Script(order.case_id, order.department, order.dispatched_at_ms, rng, prefix)
    if _returned(order, script, departments, cfg, seed):
        return script.updates
    voids = rng.random() < cfg.void_share
    void_stage = rng.randint(0, 1)  # 0: before signing, 1: after signing
    if voids and void_stage == 0:
        script.emit(Action.VOID, script.now + script.minutes(cfg.void_minutes), CENTRE_ACTOR)
        return script.updates
    sign_bounds = cfg.urgent_sign_minutes if order.urgent else cfg.sign_minutes
    script.emit(Action.SIGN, script.now + script.minutes(sign_bounds), script.staff)
    if voids:
        script.emit(Action.VOID, script.now + script.minutes(cfg.void_minutes), CENTRE_ACTOR)
        return script.updates
    deadline = order.deadline_ms
    if rng.random() < cfg.hold_share:
        # 缓办 pauses the deadline: the department works to the one the lifecycle sets
        held_at = script.emit(Action.HOLD, script.now + script.minutes((5.0, 60.0)), CENTRE_ACTOR)
        resumed = script.emit(
            Action.RESUME,
            held_at + round(rng.uniform(*cfg.hold_hours) * 60 * MINUTE_MS),
            CENTRE_ACTOR,
        )
        deadline = calendar.resume_deadline(deadline, held_at, resumed, on_clock=clock.on_clock)
    overdue = rng.random() < cfg.overdue_share_for(order.category_key)
    handled = _handle_at(order, script, clock, deadline, overdue, cfg)
    script.emit(Action.HANDLE, handled, script.staff)
    return script.updates


def simulate_rework(
    task: VerifyTask,
    rule: CategoryRule,
    calendar: WorkCalendar,
    *,
    seed: int,
    config: DepartmentSimConfig | None = None,
) -> list[CaseUpdate]:
    """The department's answer to a failed verification (返工): maybe signing again, then
    new feedback after a share of the category's time limit."""
    if task.status is not TaskStatus.FAILED or task.settled_at_ms is None:
        raise ValueError(f"verify task {task.task_id} did not fail: no rework to do")
    cfg = config or DepartmentSimConfig()
    rng = case_rng(seed, task.case_id, f"rework{task.rework_round + 1}")
    clock = _Clock(rule.urgent, rule.deadline_unit, calendar)
    start = task.settled_at_ms
    limit = clock.span(
        start, calendar.deadline_for(start, rule.deadline_value, rule.deadline_unit, rule.urgent)
    )
    prefix = f"r{task.rework_round + 1}-"
    script = _Script(task.case_id, task.department, start, rng, prefix)
    if rng.random() < cfg.resign_share:
        bounds = cfg.urgent_sign_minutes if rule.urgent else cfg.sign_minutes
        script.emit(Action.SIGN, script.now + script.minutes(bounds), script.staff)
    redo = round(rng.uniform(*cfg.rework_fraction) * limit)
    script.emit(Action.HANDLE, clock.advance(script.now, redo), script.staff)
    return script.updates


def simulate_reopen(
    case_id: int,
    department: str,
    reopened_at_ms: int,
    seq: int,
    calendar: WorkCalendar,
    *,
    seed: int,
    config: DepartmentSimConfig | None = None,
) -> list[CaseUpdate]:
    """The department's answer to a case reopened after an unsatisfied callback (the
    ``reopen`` transition number ``seq``): signing again, then new feedback."""
    cfg = config or DepartmentSimConfig()
    rng = case_rng(seed, case_id, f"reopen{seq}")
    script = _Script(case_id, department, reopened_at_ms, rng, f"o{seq}-")
    script.emit(Action.SIGN, script.now + script.minutes(cfg.sign_minutes), script.staff)
    redo = round(rng.uniform(*cfg.reopen_hours) * 60 * MINUTE_MS)
    script.emit(Action.HANDLE, calendar.add_work_ms(script.now, redo), script.staff)
    return script.updates


def simulate_on_spot(
    case_id: int, opened_at_ms: int, *, department: str, inspector: str
) -> list[CaseUpdate]:
    """A patrol case fixed on the spot: closed at once by the inspector who reported it."""
    return [
        CaseUpdate(
            update_id=f"{case_id}-u1",
            case_id=case_id,
            action=Action.CLOSE_ON_SPOT,
            actor=inspector,
            department=department,
            ts_ms=opened_at_ms,
            note="fixed on the spot",
        )
    ]
