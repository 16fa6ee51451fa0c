"""Department and supervisor simulators: deterministic, shares as configured, always legal
sequences (reworks included) against the state machine."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from streams.cases.casebook import CaseBook
from streams.cases.department_sim import (
    DepartmentSimConfig,
    simulate_department,
    simulate_on_spot,
    simulate_rework,
)
from streams.cases.dispatch import CategoryRule, DispatchOrder, make_dispatch
from streams.cases.supervisor_sim import FAIL_NOTE, SupervisorSimConfig, simulate_verification
from streams.cases.transitions import TERMINAL, Action, Status
from streams.cases.verification import (
    TaskStatus,
    VerifyDesk,
    VerifyLimits,
    VerifyTask,
    settle_task,
)
from streams.reference.supervisors import SupervisorRoster

T0 = 1_690_762_500_000  # 2023-07-31 08:15 +08:00
MIN = 60_000
TZ = "Asia/Shanghai"
NO_VOIDS = DepartmentSimConfig(hold_share=0.0, void_share=0.0)
RULES = [
    CategoryRule("E0102", "sanitation", 4, "work_hours", False),  # type: ignore[arg-type]
    CategoryRule("C0101", "municipal", 2, "clock_hours", True),  # type: ignore[arg-type]
    CategoryRule("C0405", "greening", 5, "work_days", False),  # type: ignore[arg-type]
    CategoryRule("E0111", "municipal", 4, "work_hours", True),  # type: ignore[arg-type]
]


RULES_BY_KEY = {r.key: r for r in RULES}
GRID = "410611001001001"  # an urban street of the packaged roster


def orders(cal, limits, n: int, rules=RULES) -> list[DispatchOrder]:
    out = []
    for i in range(n):
        opened = T0 + i * 977_000  # ~16 min apart: nights, weekends and holidays included
        rule = rules[i % len(rules)]
        out.append(make_dispatch(1000 + i, opened, rule, cal, opened + 5 * 60_000, limits=limits))
    return out


@pytest.fixture(scope="module")
def desk() -> VerifyDesk:
    return VerifyDesk(SupervisorRoster.load(), VerifyLimits(3_600_000, 7_200_000), TZ)


def play(
    cal,
    batch,
    *,
    seed: int,
    config: DepartmentSimConfig,
    desk: VerifyDesk,
    fail_share: float = 0.0,
) -> tuple[CaseBook, list[VerifyTask]]:
    """Department, supervisors (failing ``fail_share`` of the verifications) and reworks
    against the state machine, as the agents do."""
    supervisors = SupervisorSimConfig(fail_share=fail_share)
    book, tasks = CaseBook(cal), []
    for order in batch:
        book.open(order.case_id, order.opened_at_ms)
        book.dispatch(order)
        pending = simulate_department(order, cal, seed=seed, config=config)
        while True:
            for update in pending:
                assert book.apply(update.to_dict()) is not None  # never a duplicate or illegal
            state = book.get(order.case_id)
            assert state is not None
            if state.status is not Status.HANDLED:
                break
            task = desk.issue(state, {"grid_code": GRID})
            book.assign_verifier(order.case_id, task.supervisor)
            answer = simulate_verification(task, seed=seed, config=supervisors)
            transition = book.apply(answer)
            assert transition is not None
            settled = settle_task(task, transition.to_dict())
            assert settled is not None
            tasks.append(settled)
            pending = []
            if settled.status is TaskStatus.FAILED:
                rule = RULES_BY_KEY[order.category_key]
                pending = simulate_rework(settled, rule, cal, seed=seed, config=config)
    return book, tasks


def test_deterministic_and_independent_of_order(cal, limits):
    batch = orders(cal, limits, 60)
    forward = {o.case_id: simulate_department(o, cal, seed=3) for o in batch}
    backward = {o.case_id: simulate_department(o, cal, seed=3) for o in reversed(batch)}
    assert forward == backward
    other_seed = {o.case_id: simulate_department(o, cal, seed=4) for o in batch}
    assert sum(forward[k] != other_seed[k] for k in forward) > 50


def test_every_sequence_is_legal_and_ends(cal, limits, desk):
    config = DepartmentSimConfig(hold_share=0.2, void_share=0.1)
    batch = orders(cal, limits, 400)
    book, tasks = play(cal, batch, seed=11, config=config, desk=desk, fail_share=0.3)
    statuses = Counter(book.get(o.case_id).status for o in batch)  # type: ignore[union-attr]
    assert set(statuses) <= TERMINAL and statuses[Status.CLOSED] > 300
    assert {t.status for t in tasks} == {TaskStatus.PASSED, TaskStatus.FAILED}
    for order in batch[:50]:
        times = [u.ts_ms for u in simulate_department(order, cal, seed=11, config=config)]
        assert times == sorted(set(times)) and times[0] > order.dispatched_at_ms


def test_shares_roughly_as_configured(cal, limits, desk):
    config = DepartmentSimConfig(overdue_share=0.2, hold_share=0.05, void_share=0.04)
    batch = orders(cal, limits, 1600)
    book, tasks = play(cal, batch, seed=5, config=config, desk=desk, fail_share=0.1)
    states = [book.get(o.case_id) for o in batch]
    n = len(states)
    voided = sum(s.status is Status.VOIDED for s in states) / n  # type: ignore[union-attr]
    held = [s for s in states if s and s.hold_ms > 0]
    closed = [s for s in states if s and s.status is Status.CLOSED]
    reworked = sum(s.rework_count > 0 for s in closed) / len(closed)
    # the lifecycle moved held cases' deadlines exactly as the department expected, so
    # the overdue share holds over every case, held or not
    overdue = sum(s.first_handled_at_ms > s.deadline_ms for s in closed) / len(closed)  # type: ignore[operator]
    assert abs(voided - 0.04) < 0.02
    assert abs(len(held) / n - 0.05 * 0.96) < 0.025
    assert abs(reworked - 0.1) < 0.03
    assert abs(overdue - 0.2) < 0.04
    failed = sum(t.status is TaskStatus.FAILED for t in tasks) / len(tasks)
    assert abs(failed - 0.1) < 0.03
    delays = [(t.settled_at_ms or 0) - t.issued_at_ms for t in tasks]
    assert min(delays) >= 15 * MIN and max(delays) <= 110 * MIN
    late = sum((t.settled_at_ms or 0) > t.due_at_ms for t in tasks) / len(tasks)
    assert 0.3 < late < 0.7  # 15-110 min against the 1 h urban limit


def test_overdue_share_per_category(cal, limits, desk):
    config = DepartmentSimConfig(
        overdue_by_category=(("E0102", 0.0), ("C0101", 1.0)),
        hold_share=0.0,
        void_share=0.0,
    )
    batch = orders(cal, limits, 200, rules=RULES[:2])
    book, _ = play(cal, batch, seed=9, config=config, desk=desk)
    for order in batch:
        state = book.get(order.case_id)
        assert state is not None and state.status is Status.CLOSED
        late = state.first_handled_at_ms > order.deadline_ms  # type: ignore[operator]
        assert late is (order.category_key == "C0101"), order


def test_handling_time_follows_the_category_limit(cal, limits, desk):
    config = DepartmentSimConfig(overdue_share=0.0, hold_share=0.0, void_share=0)
    batch = orders(cal, limits, 120, rules=[RULES[0], RULES[2]])
    book, _ = play(cal, batch, seed=2, config=config, desk=desk)
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
        {"resign_share": 1.5},
        {"sign_minutes": (5.0, 1.0)},
        {"overdue_by_category": (("E0102", 2.0),)},
    ],
)
def test_config_validation(change):
    with pytest.raises(ValueError, match="department sim"):
        DepartmentSimConfig(**change)


@pytest.mark.parametrize(
    "change", [{"fail_share": 1.5}, {"verify_minutes": (5.0, 1.0)}, {"max_fails": -1}]
)
def test_supervisor_config_validation(change):
    with pytest.raises(ValueError, match="supervisor sim"):
        SupervisorSimConfig(**change)


def _task(desk: VerifyDesk, cal, limits, rework_round: int = 0) -> VerifyTask:
    order = orders(cal, limits, 1)[0]
    book = CaseBook(cal)
    book.open(order.case_id, order.opened_at_ms)
    book.dispatch(order)
    for update in simulate_department(order, cal, seed=1, config=NO_VOIDS):
        book.apply(update)
    state = book.get(order.case_id)
    assert state is not None and state.status is Status.HANDLED
    task = desk.issue(state, {"grid_code": GRID})
    return dataclasses.replace(task, rework_round=rework_round)


def test_supervisor_answers_from_the_task_and_passes_after_max_fails(cal, limits, desk):
    task = _task(desk, cal, limits)
    always = SupervisorSimConfig(fail_share=1.0, max_fails=2)
    answer = simulate_verification(task, seed=3, config=always)
    assert answer == simulate_verification(task, seed=3, config=always)  # deterministic
    assert answer.action is Action.VERIFY_FAIL and answer.note == FAIL_NOTE
    assert (answer.actor, answer.department) == (task.supervisor, task.department)
    assert answer.update_id == f"{task.task_id}:result"
    assert task.issued_at_ms + 15 * MIN <= answer.ts_ms <= task.issued_at_ms + 110 * MIN
    last = dataclasses.replace(task, rework_round=2, task_id=f"{task.case_id}:v2")
    assert simulate_verification(last, seed=3, config=always).action is Action.VERIFY_OK
    settled = dataclasses.replace(task, status=TaskStatus.PASSED, settled_at_ms=answer.ts_ms)
    with pytest.raises(ValueError, match="not open"):
        simulate_verification(settled, seed=3)


def test_rework_redoes_the_work_with_fresh_update_ids(cal, limits, desk):
    task = _task(desk, cal, limits)
    failed = dataclasses.replace(task, status=TaskStatus.FAILED, settled_at_ms=task.due_at_ms)
    rule = RULES_BY_KEY[task.category_key]
    config = DepartmentSimConfig(resign_share=1.0)
    updates = simulate_rework(failed, rule, cal, seed=4, config=config)
    assert [u.action for u in updates] == [Action.SIGN, Action.HANDLE]
    assert [u.update_id for u in updates] == [f"{task.case_id}-r1-1", f"{task.case_id}-r1-2"]
    assert failed.due_at_ms < updates[0].ts_ms < updates[1].ts_ms
    assert updates == simulate_rework(failed, rule, cal, seed=4, config=config)
    with pytest.raises(ValueError, match="did not fail"):
        simulate_rework(task, rule, cal, seed=4)


DESKS = ("municipal", "sanitation", "greening", "enforcement")


def test_returns_go_elsewhere_in_the_window_and_the_redispatch_is_handled(cal, limits):
    from streams.cases.dispatch import make_redispatch
    from streams.cases.lifecycle import apply_dispatch, apply_redispatch, apply_update, open_case

    config = dataclasses.replace(NO_VOIDS, return_share=0.5)
    returned = 0
    for order in orders(cal, limits, 120):
        updates = simulate_department(order, cal, seed=9, config=config, departments=DESKS)
        if updates[0].action is not Action.RETURN:
            continue
        returned += 1
        ret = updates[0]
        assert len(updates) == 1 and ret.note
        assert ret.to_department in DESKS and ret.to_department != order.department
        assert order.dispatched_at_ms < ret.ts_ms <= order.return_due_ms
        state, _ = apply_dispatch(open_case(order.case_id, order.opened_at_ms), order)
        state, _ = apply_update(state, ret, calendar=cal)
        rule = RULES_BY_KEY[order.category_key]
        again = make_redispatch(
            order, rule, ret.to_department, cal, ret.ts_ms, limits=limits, round_=1
        )
        state, _ = apply_redispatch(state, again)
        answers = simulate_department(again, cal, seed=9, config=config, departments=DESKS)
        assert Action.RETURN not in {u.action for u in answers}  # a re-dispatch stays
        assert all(u.update_id.startswith(f"{order.case_id}-d1-") for u in answers)
        for update in answers:
            state, _ = apply_update(state, update, calendar=cal)
        assert state.status is Status.HANDLED and state.department == ret.to_department
    assert 40 < returned < 80


def test_default_return_share_is_small(cal, limits):
    batch = orders(cal, limits, 1500)
    answers = [simulate_department(o, cal, seed=2, departments=DESKS) for o in batch]
    share = sum(a[0].action is Action.RETURN for a in answers) / len(batch)
    assert 0.015 < share < 0.045
    # without other departments to name there is nobody to return to
    assert all(
        u.action is not Action.RETURN
        for o in batch[:200]
        for u in simulate_department(o, cal, seed=2)
    )


def _passed_task(case_id: int, *, hotline: bool = True, status: str = "passed") -> VerifyTask:
    return VerifyTask(
        task_id=f"{case_id}:v0", case_id=case_id, rework_round=0, supervisor="s", basis="roster",
        department="sanitation", category_key="E0102", grid_code=GRID, street=GRID[:9],
        area="urban", issued_at_ms=T0, due_at_ms=T0 + 3_600_000,
        status=TaskStatus(status), settled_at_ms=T0 + 600_000, hotline=hotline,
    )  # fmt: skip


def test_callbacks_follow_hotline_closures_with_realistic_shares():
    from streams.cases.callback_sim import CallbackSimConfig, simulate_callback

    calls = [simulate_callback(_passed_task(i), seed=3) for i in range(3000)]
    assert all(c is not None for c in calls)
    results = Counter(c.result for c in calls if c is not None)
    for result, share in zip(
        ("satisfied", "basically_satisfied", "unsatisfied", "unreachable"),
        CallbackSimConfig().shares,
        strict=True,
    ):
        assert abs(results[result] / len(calls) - share) < 0.025, result
    for c in calls[:200]:
        assert c is not None and c.action is Action.CALLBACK and c.department == "sanitation"
        assert 2 * 3_600_000 <= c.ts_ms - (T0 + 600_000) <= 48 * 3_600_000
    assert simulate_callback(_passed_task(1), seed=3) == calls[1]  # deterministic
    assert simulate_callback(_passed_task(1, hotline=False), seed=3) is None
    assert simulate_callback(_passed_task(1, status="failed"), seed=3) is None
    with pytest.raises(ValueError, match="sum to 1"):
        CallbackSimConfig(shares=(0.5, 0.5, 0.5, 0.0))


def test_a_reopened_case_is_handled_again(cal):
    from streams.cases.department_sim import simulate_reopen

    answers = simulate_reopen(7, "sanitation", T0, 9, cal, seed=1)
    assert [u.action for u in answers] == [Action.SIGN, Action.HANDLE]
    assert [u.update_id for u in answers] == ["7-o9-1", "7-o9-2"]
    assert T0 < answers[0].ts_ms < answers[1].ts_ms
    assert answers == simulate_reopen(7, "sanitation", T0, 9, cal, seed=1)
