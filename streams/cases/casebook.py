"""Case states by id, for offline replays, simulations and tests (the agents keep theirs
in a Faust table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.cases.calendar import WorkCalendar
from streams.cases.dispatch import DispatchOrder
from streams.cases.lifecycle import (
    CaseState,
    apply_dispatch,
    apply_redispatch,
    apply_update,
    assign_verifier,
    open_case,
)
from streams.cases.transitions import CaseUpdate, LifecycleError, Transition
from streams.contracts.reasons import Reason

__all__ = ["CaseBook"]


class CaseBook:
    """Case states by id; ``calendar`` resumes held cases (see :func:`apply_update`)."""

    def __init__(self, calendar: WorkCalendar | None = None) -> None:
        self._cases: dict[int, CaseState] = {}
        self.calendar = calendar

    def __len__(self) -> int:
        return len(self._cases)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._cases

    def get(self, case_id: int) -> CaseState | None:
        return self._cases.get(case_id)

    def open(self, case_id: int, opened_at_ms: int, *, fixed_on_spot: bool = False) -> CaseState:
        """Open a case; opening an existing id again (a replay) returns it unchanged."""
        if case_id not in self._cases:
            self._cases[case_id] = open_case(case_id, opened_at_ms, fixed_on_spot=fixed_on_spot)
        return self._cases[case_id]

    def dispatch(self, order: DispatchOrder) -> Transition | None:
        state = self._cases.get(order.case_id)
        if state is None:
            raise LifecycleError(Reason.UNKNOWN_CASE, f"dispatch of unknown case {order.case_id}")
        # a re-dispatch (round >= 1) follows a return (退单)
        step = apply_redispatch if order.round else apply_dispatch
        self._cases[order.case_id], transition = step(state, order)
        return transition

    def apply(self, update: CaseUpdate | Mapping[str, Any]) -> Transition | None:
        if not isinstance(update, CaseUpdate):
            update = CaseUpdate.from_dict(update)
        state, transition = apply_update(
            self._cases.get(update.case_id), update, calendar=self.calendar
        )
        self._cases[update.case_id] = state
        return transition

    def assign_verifier(self, case_id: int, supervisor: str) -> None:
        state = self._cases.get(case_id)
        if state is None:
            raise LifecycleError(Reason.UNKNOWN_CASE, f"verify task for unknown case {case_id}")
        self._cases[case_id] = assign_verifier(state, supervisor)
