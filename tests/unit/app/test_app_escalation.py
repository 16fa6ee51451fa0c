"""The escalation agent's pure step: case.state messages against a partition's entries."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.app.escalation_agent import EscalationStep, Journal, unsent
from streams.app.factory import ROLES
from streams.cases.escalation import Change, apply_changes
from streams.contracts.clock import CLOCK_KEY, is_tick, tick_time, tick_value
from streams.contracts.reasons import Reason
from streams.settings import WORKER_ROLES, Settings
from tests.case_states import T0, H, case_state


def _state(case_id: int, status: str = "dispatched", seq: int = 1, **fields: Any) -> bytes:
    return orjson.dumps(case_state(case_id, status, seq, **fields))


@pytest.fixture
def step() -> EscalationStep:
    return EscalationStep.from_settings(Settings().replace(redelivery_horizon_s=3600))


def test_the_role_is_registered_everywhere() -> None:
    assert "escalation" in ROLES and set(ROLES) == set(WORKER_ROLES)


def _apply(table: dict[bytes, Any], changes: list[Change]) -> list[str]:
    return [r["escalation_id"] for r in apply_changes(table, {}, changes)]


def _feed(step: EscalationStep, table: dict[bytes, Any], key: bytes, raw: bytes) -> list[str]:
    changes, rejected = step.record(dict(table), key, raw, 0)
    assert rejected is None
    return _apply(table, changes)


def _tick(at: int) -> tuple[bytes, bytes]:
    return CLOCK_KEY, tick_value(at)


def test_ticks_move_the_clock_and_raise_the_partitions_levels(step: EscalationStep) -> None:
    table: dict[bytes, Any] = {}
    assert _feed(step, table, b"1", _state(1)) == []
    closed = _state(2, "closed", seq=5, handled_at=T0 + H, closed_at=T0 + 2 * H)
    assert _feed(step, table, b"2", closed) == []
    assert table[b"1"]["partition"] == 0
    # neither a desk's report dated ahead nor a newer case moves the clock
    assert _feed(step, table, b"1", _state(1, "signed", 2, signed_at=T0 + 7 * H)) == []
    later = _state(3, opened_at=T0 + 8 * H, dispatched_at=T0 + 9 * H)
    assert _feed(step, table, b"3", later) == []
    # the clock ticks T0 + 9 h: case 1 has used 90 % of its time; case 2, closed 7 h
    # before, beyond the redelivery horizon (1 h), goes
    assert _feed(step, table, *_tick(T0 + 9 * H)) == ["1:remind"]
    assert set(table) == {b"1", b"3"}
    assert _feed(step, table, *_tick(T0 + 9 * H)) == []  # redelivered: nothing twice
    assert table[b"1"]["raised"] == ["remind"]


def test_the_same_records_give_the_same_escalations_from_any_restart_point(
    step: EscalationStep,
) -> None:
    history = [
        (b"1", _state(1)),
        (b"2", _state(2, opened_at=T0 + 2 * H, dispatched_at=T0 + 3 * H, deadline=T0 + 13 * H)),
        (b"1", _state(1, "signed", seq=2, signed_at=T0 + H)),
        (b"3", _state(3, opened_at=T0 + 11 * H, dispatched_at=T0 + 12 * H, deadline=T0 + 22 * H)),
        _tick(T0 + 12 * H),
        (b"1", _state(1, "handled", seq=3, signed_at=T0 + H, handled_at=T0 + 16 * H)),
        (b"2", _state(2, "closed", 4, dispatched_at=T0 + 3 * H, closed_at=T0 + 12 * H)),
    ]
    table: dict[bytes, Any] = {}
    once = [i for key, raw in history for i in _feed(step, table, key, raw)]
    # the tick at T0 + 12 h: case 1 is overdue, case 2 at 90 % (its closing record comes
    # later); case 1's handling at T0 + 16 h: 50 % overdue
    assert once == ["1:remind", "1:supervise", "2:remind", "1:department_head"]
    # a crash: the table survived up to record k, the records from j <= k come again
    for j in range(len(history)):
        for k in range(j, len(history)):
            table = {}
            first = [i for key, raw in history[:k] for i in _feed(step, table, key, raw)]
            again = [i for key, raw in history[j:] for i in _feed(step, table, key, raw)]
            assert sorted(first + again) == sorted(once), (j, k)


def test_partitions_keep_their_own_entries(step: EscalationStep) -> None:
    table: dict[bytes, Any] = {}
    changes, _ = step.record({}, b"1", _state(1), 0)
    _apply(table, changes)
    changes, _ = step.record({}, b"2", _state(2), 1)
    assert [c.key for c in changes] == [b"2"]
    assert changes[0].entry is not None and changes[0].entry["partition"] == 1
    assert _apply(table, changes) == []
    # a tick on partition 1 raises partition 1's cases only (the agent passes its entries)
    entries = {k: e for k, e in table.items() if e["partition"] == 1}
    changes, _ = step.record(entries, *_tick(T0 + 9 * H), 1)
    assert [(c.key, [r["level"] for r in c.sends]) for c in changes] == [(b"2", ["remind"])]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", Reason.MALFORMED_JSON),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b'{"case_id": 1}', Reason.MISSING_FIELD),
        (_state(1, "nonsense"), Reason.WRONG_TYPE),
    ],
)
def test_bad_records_are_rejected_and_change_nothing(
    step: EscalationStep, raw: bytes, reason: Reason
) -> None:
    table: dict[bytes, Any] = {}
    _feed(step, table, b"1", _state(1))
    changes, rejected = step.record(dict(table), b"1", raw, 0)
    assert changes == []
    assert rejected is not None and rejected[0] is reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"clock_ms": -1}', Reason.WRONG_TYPE),
        (b'{"clock_ms": "soon"}', Reason.WRONG_TYPE),
        (b"[]", Reason.WRONG_TYPE),
        (b"{no", Reason.MALFORMED_JSON),
    ],
)
def test_bad_ticks_are_rejected_and_change_nothing(
    step: EscalationStep, raw: bytes, reason: Reason
) -> None:
    table: dict[bytes, Any] = {}
    _feed(step, table, b"1", _state(1))
    changes, rejected = step.record(dict(table), CLOCK_KEY, raw, 0)
    assert changes == []
    assert rejected is not None and rejected[0] is reason


def test_the_worker_app_builds_with_the_role(tmp_path: Any) -> None:
    """Registration declares the agent and its table (nothing connects before start)."""
    from streams.app.factory import create_app

    app = create_app(Settings(home=tmp_path, cache_dir=tmp_path), ["escalation"])
    assert set(app.agents) == {"escalation"}
    tables = {"escalation-cases", "escalation-remembered", "escalation-journal"}
    assert set(app.tables) == tables
    assert all(app.tables[name].key_serializer == "raw" for name in tables)


def test_the_journal_says_which_records_are_applied_and_round_trips(
    step: EscalationStep,
) -> None:
    changes, _ = step.record({}, b"1", _state(1), 3)
    dropped = Change(b"\xff7", None, [], {"version": 9 << 32, "raised": ["remind"]})
    journal = Journal.after(41, [*changes, dropped], sent=17)
    assert (journal.applied(40), journal.applied(41), journal.applied(42)) == (True, True, False)
    assert all(c.sends == [] for c in journal.changes)  # escalations are on their topic
    again = Journal.from_json(orjson.loads(orjson.dumps(journal.to_json())))
    assert again == journal
    assert again.changes[0].entry is not None and again.changes[0].entry["partition"] == 3
    assert Journal.key(3) != Journal.key(13)


def test_escalations_read_back_after_a_crash_are_not_sent_again() -> None:
    a = {"escalation_id": "1:remind"}
    b = {"escalation_id": "1:supervise"}
    c = {"escalation_id": "2:remind"}
    changes = [Change(b"1", {}, [a, b]), Change(b"2", {}, [c]), Change(b"3", None)]
    assert unsent(changes, set()) == [(b"1", a), (b"1", b), (b"2", c)]
    assert unsent(changes, {"1:remind", "2:remind"}) == [(b"1", b)]


def test_a_tick_is_its_key_and_a_time() -> None:
    assert is_tick(CLOCK_KEY) and not is_tick(b"42") and not is_tick(None)
    assert tick_time(tick_value(T0)) == T0
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="epoch ms"):
            tick_value(bad)  # type: ignore[arg-type]


def test_the_sink_stores_case_rows_and_skips_ticks() -> None:
    from streams.app.sink_agent import RowMaker

    assert RowMaker.case(CLOCK_KEY, tick_value(T0)) == []
    assert RowMaker.case(b"1", _state(1)) == [orjson.loads(_state(1))]
