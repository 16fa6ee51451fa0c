"""The escalation agent's pure step: case.state messages, timer ticks, bad records."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from streams.app.escalation_agent import EscalationStep, _ready
from streams.app.factory import ROLES
from streams.cases.escalation import on_state
from streams.contracts.reasons import Reason
from streams.settings import WORKER_ROLES, Settings

H = 3_600_000
T0 = 1_690_765_200_000


def _state(case_id: int, status: str = "dispatched", seq: int = 1, **fields: Any) -> bytes:
    row = {
        "case_id": case_id,
        "version": seq << 32,
        "category_key": "E0102",
        "department": "sanitation",
        "grid_code": "410611001001001",
        "street": "410611001",
        "status": status,
        "opened_at": T0 - H,
        "dispatched_at": T0,
        "deadline": T0 + 10 * H,
        "signed_at": 0,
        "handled_at": 0,
        "closed_at": 0,
        "voided_at": 0,
        "hold_s": 0,
    }
    return orjson.dumps({**row, **fields})


@pytest.fixture
def step() -> EscalationStep:
    return EscalationStep.from_settings(Settings().replace(redelivery_horizon_s=3600))


def test_the_role_is_registered_everywhere() -> None:
    assert "escalation" in ROLES and set(ROLES) == set(WORKER_ROLES)


def test_a_tick_runs_on_the_intake_clock(step: EscalationStep) -> None:
    table: dict[str, Any] = {}
    for key, raw in [
        ("1", _state(1)),
        ("2", _state(2, "closed", seq=5, handled_at=T0 + H, closed_at=T0 + 2 * H)),
    ]:
        table[key], sends, rejected = step.record(None, raw)
        assert sends == [] and rejected is None
    assert step.tick(table.items()) == []  # the clock is T0 + 2 h: nothing due yet
    # a desk's report dated ahead does not move the clock
    table["1"], sends, _ = step.record(table["1"], _state(1, "signed", 2, signed_at=T0 + 7 * H))
    assert sends == [] and step.tick(table.items()) == []
    # another case is dispatched at T0 + 9 h: case 1 has used 90 % of its time, case 2
    # closed 7 h ago, case 3 has just started
    table["3"], _, _ = step.record(None, _state(3, opened_at=T0 + 8 * H, dispatched_at=T0 + 9 * H))
    changes = step.tick(table.items())
    assert [(k, e is None, [r["escalation_id"] for r in s]) for k, e, s in changes] == [
        ("1", False, ["1:remind"]),
        ("2", True, []),  # closed more than the redelivery horizon ago: dropped
    ]
    for key, entry, _ in changes:
        if entry is None:
            del table[key]
        else:
            table[key] = entry
    assert step.tick(table.items()) == []  # raised once


def test_the_same_input_gives_the_same_escalations_whatever_the_ticks(
    step: EscalationStep,
) -> None:
    history = [
        _state(1),
        _state(1, "signed", seq=2, signed_at=T0 + H),
        _state(1, "handled", seq=3, signed_at=T0 + H, handled_at=T0 + 16 * H),
    ]

    def run(tick_between: bool) -> list[dict[str, Any]]:
        entry, out = None, []
        for raw in history:
            entry, sends, _ = step.record(entry, raw)
            out += sends
            if tick_between and entry is not None:
                for _, new, sends in step.tick([("1", entry)]):
                    entry, out = new, out + sends
        return out

    assert run(True) == run(False)
    assert [r["level"] for r in run(False)] == ["remind", "supervise", "department_head"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", Reason.MALFORMED_JSON),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b'{"case_id": 1}', Reason.MISSING_FIELD),
        (_state(1, "nonsense"), Reason.WRONG_TYPE),
    ],
)
def test_bad_records_are_rejected_and_leave_the_entry(
    step: EscalationStep, raw: bytes, reason: Reason
) -> None:
    entry, _ = on_state(step.ladder, None, orjson.loads(_state(1)))
    same, sends, rejected = step.record(entry, raw)
    assert same is entry and sends == []
    assert rejected is not None and rejected[0] is reason


def test_no_tick_on_a_table_being_recovered() -> None:
    done = asyncio.Event()

    def app(rebalancing: bool, in_recovery: bool) -> Any:
        recovery = SimpleNamespace(completed=done)
        return SimpleNamespace(
            rebalancing=rebalancing,
            in_recovery=in_recovery,
            tables=SimpleNamespace(recovery=recovery),
        )

    assert not _ready(app(False, False))  # recovery never completed
    done.set()
    assert _ready(app(False, False))
    assert not _ready(app(True, False)) and not _ready(app(False, True))
