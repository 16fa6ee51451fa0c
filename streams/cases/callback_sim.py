"""Callback simulator (回访): the centre calls the citizen back after a hotline case closed.

Pure and seeded per (case id, rework round), like the other desks. The result shares are
of the order city hotlines publish (most citizens satisfied, a few unreachable, a few
unsatisfied); the call comes some hours after the closure, on the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.cases.department_sim import case_rng
from streams.cases.transitions import Action, CallbackResult, CaseUpdate
from streams.cases.verification import TaskStatus, VerifyTask

__all__ = ["CALLBACK_ACTOR", "CallbackSimConfig", "simulate_callback"]

CALLBACK_ACTOR = "callback-desk"
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class CallbackSimConfig:
    """Result shares (in :class:`CallbackResult` order) and the closure -> call delay."""

    shares: tuple[float, float, float, float] = (0.70, 0.15, 0.05, 0.10)
    delay_hours: tuple[float, float] = (2.0, 48.0)

    def __post_init__(self) -> None:
        if len(self.shares) != len(CallbackResult) or min(self.shares) < 0:
            raise ValueError(f"callback sim: one share >= 0 per result, got {self.shares}")
        if abs(sum(self.shares) - 1.0) > 1e-9:
            raise ValueError(f"callback sim: shares must sum to 1, got {sum(self.shares)}")
        low, high = self.delay_hours
        if not 0 <= low <= high:
            raise ValueError("callback sim: delay_hours must be 0 <= low <= high")


def simulate_callback(
    task: VerifyTask, *, seed: int, config: CallbackSimConfig | None = None
) -> CaseUpdate | None:
    """The callback after the verification ``task`` closed a hotline case; None when the
    task did not close one (not passed, or not a hotline case)."""
    if task.status is not TaskStatus.PASSED or not task.hotline or task.settled_at_ms is None:
        return None
    cfg = config or CallbackSimConfig()
    rng = case_rng(seed, task.case_id, f"callback{task.rework_round}")
    result = rng.choices(list(CallbackResult), weights=cfg.shares)[0]
    delay = round(rng.uniform(*cfg.delay_hours) * HOUR_MS)
    return CaseUpdate(
        update_id=f"{task.case_id}-cb{task.rework_round}",
        case_id=task.case_id,
        action=Action.CALLBACK,
        actor=CALLBACK_ACTOR,
        department=task.department,
        ts_ms=task.settled_at_ms + delay,
        result=result.value,
    )
