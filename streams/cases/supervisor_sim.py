"""Supervisor simulator: the answer a supervisor gives to a verify task (核查).

Pure and seeded like the department simulator: each task draws from its own RNG (seed,
case id, rework round). A share of verifications fail (返工) until the case has been
reworked ``max_fails`` times; after that the department's work passes. The answer comes
``verify_minutes`` (clock time) after the department's feedback, so some are late against
the task's verify limit (1 h urban, 2 h rural by default), as in real districts.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.cases.department_sim import MINUTE_MS, case_rng
from streams.cases.transitions import Action, CaseUpdate
from streams.cases.verification import TaskStatus, VerifyTask

__all__ = ["FAIL_NOTE", "SupervisorSimConfig", "simulate_verification"]

FAIL_NOTE = "not fixed on site, back to the department"


@dataclass(frozen=True)
class SupervisorSimConfig:
    verify_minutes: tuple[float, float] = (15.0, 110.0)  # feedback -> verification, clock
    fail_share: float = 0.07  # verifications that fail (返工)
    max_fails: int = 2  # a case reworked this often passes its next verification

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_share <= 1.0:
            raise ValueError(f"supervisor sim: fail_share must be in [0, 1], got {self}")
        low, high = self.verify_minutes
        if not 0 <= low <= high:
            raise ValueError("supervisor sim: verify_minutes must be 0 <= low <= high")
        if self.max_fails < 0:
            raise ValueError("supervisor sim: max_fails must be >= 0")


def simulate_verification(
    task: VerifyTask, *, seed: int, config: SupervisorSimConfig | None = None
) -> CaseUpdate:
    """The verify_ok or verify_fail the task's supervisor sends for an open task."""
    if task.status is not TaskStatus.OPEN:
        raise ValueError(f"verify task {task.task_id} is {task.status.value}, not open")
    cfg = config or SupervisorSimConfig()
    rng = case_rng(seed, task.case_id, f"verify{task.rework_round}")
    delay = max(MINUTE_MS, round(rng.uniform(*cfg.verify_minutes) * MINUTE_MS))
    fails = task.rework_round < cfg.max_fails and rng.random() < cfg.fail_share
    return CaseUpdate(
        update_id=f"{task.task_id}:result",
        case_id=task.case_id,
        action=Action.VERIFY_FAIL if fails else Action.VERIFY_OK,
        actor=task.supervisor,
        department=task.department,
        ts_ms=task.issued_at_ms + delay,
        note=FAIL_NOTE if fails else "",
    )
