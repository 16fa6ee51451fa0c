"""Department simulator: deterministic, shares as configured, always legal sequences."""

from __future__ import annotations

from collections import Counter

import pytest

from streams.cases.department_sim import DepartmentSimConfig, simulate_department, simulate_on_spot
from streams.cases.dispatch import CategoryRule, DispatchOrder, make_dispatch
from streams.cases.lifecycle import TERMINAL, Action, CaseBook, Status

T0 = 1_690_762_500_000  # 2023-07-31 08:15 +08:00
RULES = [
    CategoryRule("E0102", "sanitation", 4, "work_hours", False),  # type: ignore[arg-type]
    CategoryRule("C0101", "municipal", 2, "clock_hours", True),  # type: ignore[arg-type]
    CategoryRule("C0405", "greening", 5, "work_days", False),  # type: ignore[arg-type]
    CategoryRule("E0111", "municipal", 4, "work_hours", True),  # type: ignore[arg-type]
]


def orders(cal, limits, n: int, rules=RULES) -> list[DispatchOrder]:
    out = []
    for i in range(n):
        opened = T0 + i * 977_000  # ~16 min apart: nights, weekends and holidays included
        rule = rules[i % len(rules)]
        out.append(make_dispatch(1000 + i, opened, rule, cal, opened + 5 * 60_000, limits=limits))
    return out


def play(cal, batch, *, seed: int, config: DepartmentSimConfig) -> CaseBook:
    book = CaseBook()
    for order in batch:
        book.open(order.case_id, order.opened_at_ms)
        book.dispatch(order)
        for update in simulate_department(order, cal, seed=seed, config=config):
            assert book.apply(update.to_dict()) is not None  # never a duplicate, never illegal
    return book


def test_deterministic_and_independent_of_order(cal, limits):
    batch = orders(cal, limits, 60)
    forward = {o.case_id: simulate_department(o, cal, seed=3) for o in batch}
    backward = {o.case_id: simulate_department(o, cal, seed=3) for o in reversed(batch)}
    assert forward == backward
    other_seed = {o.case_id: simulate_department(o, cal, seed=4) for o in batch}
    assert sum(forward[k] != other_seed[k] for k in forward) > 50


def test_every_sequence_is_legal_and_ends(cal, limits):
    config = DepartmentSimConfig(rework_share=0.3, hold_share=0.2, void_share=0.1)
    batch = orders(cal, limits, 400)
    book = play(cal, batch, seed=11, config=config)
    statuses = Counter(book.get(o.case_id).status for o in batch)  # type: ignore[union-attr]
    assert set(statuses) <= TERMINAL and statuses[Status.CLOSED] > 300
    for order in batch[:50]:
        times = [u.ts_ms for u in simulate_department(order, cal, seed=11, config=config)]
        assert times == sorted(set(times)) and times[0] > order.dispatched_at_ms


def test_shares_roughly_as_configured(cal, limits):
    config = DepartmentSimConfig(
        overdue_share=0.2, rework_share=0.1, hold_share=0.05, void_share=0.04
    )
    batch = orders(cal, limits, 1600)
    book = play(cal, batch, seed=5, config=config)
    states = [book.get(o.case_id) for o in batch]
    n = len(states)
    voided = sum(s.status is Status.VOIDED for s in states) / n  # type: ignore[union-attr]
    held = sum(s.hold_ms > 0 for s in states) / n  # type: ignore[union-attr]
    closed = [s for s in states if s and s.status is Status.CLOSED]
    reworked = sum(s.rework_count > 0 for s in closed) / len(closed)
    overdue = sum(
        s.first_handled_at_ms > s.deadline_ms  # type: ignore[operator]
        for s in closed
        if s.hold_ms == 0
    ) / sum(s.hold_ms == 0 for s in closed)
    assert abs(voided - 0.04) < 0.02
    assert abs(held - 0.05 * 0.96) < 0.025
    assert abs(reworked - 0.1) < 0.03
    assert abs(overdue - 0.2) < 0.04


def test_overdue_share_per_category(cal, limits):
    config = DepartmentSimConfig(
        overdue_by_category=(("E0102", 0.0), ("C0101", 1.0)),
        rework_share=0.0,
        hold_share=0.0,
        void_share=0.0,
    )
    batch = orders(cal, limits, 200, rules=RULES[:2])
    book = play(cal, batch, seed=9, config=config)
    for order in batch:
        state = book.get(order.case_id)
        assert state is not None and state.status is Status.CLOSED
        late = state.first_handled_at_ms > order.deadline_ms  # type: ignore[operator]
        assert late is (order.category_key == "C0101"), order


def test_handling_time_follows_the_category_limit(cal, limits):
    config = DepartmentSimConfig(overdue_share=0.0, rework_share=0.0, hold_share=0.0, void_share=0)
    batch = orders(cal, limits, 120, rules=[RULES[0], RULES[2]])
    book = play(cal, batch, seed=2, config=config)
    took: dict[str, list[int]] = {"E0102": [], "C0405": []}
    for order in batch:
        state = book.get(order.case_id)
        assert state is not None and state.first_handled_at_ms is not None
        took[order.category_key].append(state.first_handled_at_ms - order.dispatched_at_ms)
    # five working days take longer than four working hours, on average by far
    assert sum(took["C0405"]) / 60 > 3 * sum(took["E0102"]) / 60


def test_fixed_on_spot_closes_at_once():
    book = CaseBook()
    book.open(77, T0, fixed_on_spot=True)
    updates = simulate_on_spot(77, T0, department="sanitation", inspector="INS-017")
    assert [u.action for u in updates] == [Action.CLOSE_ON_SPOT]
    for update in updates:
        book.apply(update)
    state = book.get(77)
    assert state is not None and state.status is Status.CLOSED and state.closed_at_ms == T0


@pytest.mark.parametrize(
    "change",
    [
        {"rework_share": 1.5},
        {"sign_minutes": (5.0, 1.0)},
        {"max_reworks": -1},
        {"overdue_by_category": (("E0102", 2.0),)},
    ],
)
def test_config_validation(change):
    with pytest.raises(ValueError, match="department sim"):
        DepartmentSimConfig(**change)
