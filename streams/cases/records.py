"""The ``case.state`` record: a case's current facts after every transition.

Lifecycle publishes one after each transition; the sink stores them in the ``cases`` table
(same columns), where the highest ``version`` of a case wins.
"""

from __future__ import annotations

from typing import Any

from streams.cases.lifecycle import CaseState
from streams.cases.transitions import Status

__all__ = ["case_row", "case_state_record", "case_version"]


def case_version(seq: int, n_events: int) -> int:
    """Version of a case row: later lifecycle steps win, then more linked events."""
    if not (0 <= seq < 2**32 and 0 <= n_events < 2**32):
        raise ValueError(f"seq {seq} and n_events {n_events} must fit 32 bits")
    return (seq << 32) | n_events


def _ms(value: int | None) -> int:
    return 0 if value is None else value


def case_row(
    state: CaseState,
    *,
    grid_code: str,
    community: str,
    street: str,
    lat: float,
    lon: float,
    n_events: int,
    recurrence_of: int = 0,
) -> dict[str, Any]:
    """A ``cases`` row from the lifecycle state plus the dedup facts of the case."""
    return {
        "case_id": state.case_id,
        "version": case_version(state.seq, n_events),
        "category_key": state.category_key,
        "department": state.department,
        "grid_code": grid_code,
        "community": community,
        "street": street,
        "lat": lat,
        "lon": lon,
        "opened_at": state.opened_at_ms,
        "dispatched_at": _ms(state.dispatched_at_ms),
        "deadline": _ms(state.deadline_in_force),  # 0 while on hold: the clock is paused
        "signed_at": _ms(state.signed_at_ms),
        "handled_at": _ms(state.handled_at_ms),
        "closed_at": _ms(state.closed_at_ms),
        "voided_at": _ms(state.voided_at_ms),
        "status": Status(state.status).value,
        "rework_count": state.rework_count,
        "recurrence_of": recurrence_of,
        "n_events": n_events,
        "urgent": int(state.urgent),
        "fixed_on_spot": int(state.fixed_on_spot),
        "hold_s": state.hold_ms // 1000,  # finished holds (缓办), clock seconds
    }


def case_state_record(state: CaseState, facts: dict[str, Any] | None) -> dict[str, Any]:
    """The ``case.state`` record of a case: its lifecycle state and the dedup facts of its
    opening (grid, place, recurrence). The ``cases`` table stores these records as they are."""
    facts = facts or {}
    grid = str(facts.get("grid_code") or "")
    return case_row(
        state,
        grid_code=grid,
        community=grid[:12],  # 6 admin + 3 street + 3 community digits
        street=grid[:9],
        lat=float(facts.get("lat", 0.0)),
        lon=float(facts.get("lon", 0.0)),
        n_events=0,  # counted from links in ClickHouse: a case keeps growing after this row
        recurrence_of=int(facts.get("recurrence_of", 0)),
    )
