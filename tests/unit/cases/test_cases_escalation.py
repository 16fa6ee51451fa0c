"""The escalation ladder: thresholds, holds, finished cases, each level once."""

from __future__ import annotations

from typing import Any

import pytest

from sinks.tables import TABLES
from streams.cases.escalation import (
    Ladder,
    Level,
    apply_changes,
    entry_from_state,
    on_clock,
    on_record,
    on_state,
    on_tick,
    prunable,
)
from streams.settings import Settings, SettingsError
from tests.case_states import T0, H, case_state

LADDER = Ladder()


def _state(status: str = "dispatched", seq: int = 1, **fields: Any) -> dict[str, Any]:
    return case_state(fields.pop("case_id", 42), status, seq, **fields)


def _levels(records: list[dict[str, Any]]) -> list[str]:
    return [r["level"] for r in records]


def test_thresholds_are_shares_of_the_time_limit() -> None:
    entry = entry_from_state(_state())
    assert LADDER.thresholds(entry) == [
        (Level.REMIND, T0 + 8 * H),
        (Level.SUPERVISE, T0 + 10 * H + 1),  # overdue: after the deadline, not at it
        (Level.DEPARTMENT_HEAD, T0 + 15 * H),
        (Level.DISTRICT_LEADER, T0 + 20 * H),
    ]
    steep = Ladder(remind_share=0.5, department_head_overdue=0.2, district_leader_overdue=0.3)
    assert [at for _, at in steep.thresholds(entry)] == [
        T0 + 5 * H,
        T0 + 10 * H + 1,
        T0 + 12 * H,
        T0 + 13 * H,
    ]


@pytest.mark.parametrize(
    ("now", "levels"),
    [
        (T0 + 8 * H - 1, []),
        (T0 + 8 * H, ["remind"]),
        (T0 + 10 * H, ["remind"]),
        (T0 + 10 * H + 1, ["remind", "supervise"]),
        (T0 + 15 * H, ["remind", "supervise", "department_head"]),
        (T0 + 30 * H, ["remind", "supervise", "department_head", "district_leader"]),
    ],
)
def test_a_tick_raises_the_levels_reached(now: int, levels: list[str]) -> None:
    entry, records = on_tick(LADDER, entry_from_state(_state()), now)
    assert _levels(records) == levels
    assert entry["raised"] == sorted(levels)


def test_each_level_is_raised_once_with_a_deterministic_id_and_time() -> None:
    entry = entry_from_state(_state())
    entry, first = on_tick(LADDER, entry, T0 + 9 * H)
    entry, again = on_tick(LADDER, entry, T0 + 9 * H + 5)
    entry, later = on_tick(LADDER, entry, T0 + 11 * H)
    assert (_levels(first), again, _levels(later)) == (["remind"], [], ["supervise"])
    assert first[0]["escalation_id"] == "42:remind"
    # dated by the threshold, not by the tick that noticed it
    assert first[0]["escalated_at"] == T0 + 8 * H
    assert later[0]["escalated_at"] == T0 + 10 * H + 1
    # the record carries exactly the columns of the escalations table
    assert list(first[0]) == [c.name for c in TABLES["escalations"]]
    # a later record of the case keeps what was raised
    entry, records = on_state(LADDER, entry, _state("signed", seq=2, signed_at=T0 + 11 * H))
    assert records == [] and entry is not None
    assert entry["raised"] == ["remind", "supervise"]
    assert _levels(on_tick(LADDER, entry, T0 + 40 * H)[1]) == [
        "department_head",
        "district_leader",
    ]


def test_a_hold_pauses_and_moves_the_thresholds() -> None:
    held = entry_from_state(_state("on_hold", seq=2, deadline=0))
    assert LADDER.thresholds(held) == []
    assert on_tick(LADDER, held, T0 + 100 * H)[1] == []
    # resumed after a 5 h hold: the deadline moved on by 5 h, the limit is still 10 h
    resumed = entry_from_state(_state("signed", seq=3, deadline=T0 + 15 * H, hold_s=5 * 3600))
    assert dict(LADDER.thresholds(resumed))[Level.REMIND] == T0 + 13 * H
    assert dict(LADDER.thresholds(resumed))[Level.DEPARTMENT_HEAD] == T0 + 20 * H


@pytest.mark.parametrize("status", ["opened", "handled", "closed", "voided", "on_hold"])
def test_cases_not_with_their_department_do_not_escalate(status: str) -> None:
    entry = entry_from_state(_state(status, seq=4))
    assert on_tick(LADDER, entry, T0 + 100 * H)[1] == []


def test_a_transition_raises_what_the_previous_state_reached_before_it() -> None:
    entry, records = on_state(LADDER, None, _state())
    assert records == []
    # handled at T0 + 11 h, before any tick: remind and supervise were reached while open
    handled = _state("handled", seq=3, handled_at=T0 + 11 * H, signed_at=T0 + H)
    entry, records = on_state(LADDER, entry, handled)
    assert _levels(records) == ["remind", "supervise"]
    assert entry is not None and entry["raised"] == ["remind", "supervise"]
    # nothing further while handled; rework puts the case back on its clock
    assert on_tick(LADDER, entry, T0 + 30 * H)[1] == []
    rework = _state("rework", seq=4, handled_at=T0 + 11 * H, signed_at=T0 + H)
    entry, records = on_state(LADDER, entry, rework)
    assert records == []  # handled: no thresholds ran out before this transition
    assert entry is not None
    assert _levels(on_tick(LADDER, entry, T0 + 16 * H)[1]) == ["department_head"]


def test_closed_cases_stop_and_older_records_change_nothing() -> None:
    entry, _ = on_state(LADDER, None, _state())
    closed = _state("closed", seq=5, handled_at=T0 + H, closed_at=T0 + 2 * H)
    entry, records = on_state(LADDER, entry, closed)
    assert records == [] and entry is not None
    assert on_tick(LADDER, entry, T0 + 100 * H)[1] == []
    # the dispatch record redelivered after a restart: ignored, the case stays closed
    same, records = on_state(LADDER, entry, _state())
    assert (same, records) == (entry, [])
    assert not prunable(entry, T0 + 3 * H, horizon_ms=H)
    assert prunable(entry, T0 + 3 * H + 1, horizon_ms=H)
    open_entry = entry_from_state(_state())
    assert not prunable(open_entry, T0 + 100 * H, horizon_ms=H)


def test_only_ticks_move_the_clock() -> None:
    """A record raises its own case's levels up to its transition, never another case's:
    a newer case's opening says nothing about answers still in flight."""
    entries: dict[Any, dict[str, Any]] = {}
    remembered: dict[Any, dict[str, Any]] = {}
    late = _dispatched(43, T0 + 30 * H)
    assert _run([("a", _state()), ("b", late)], entries, remembered) == []
    assert _tick(T0 + 8 * H, entries, remembered) == ["42:remind"]
    # the same tick again, or an older one: nothing twice
    assert _tick(T0 + 8 * H, entries, remembered) == []
    assert _tick(T0 + 5 * H, entries, remembered) == []
    assert _tick(T0 + 10 * H + 1, entries, remembered) == ["42:supervise"]


def test_ladder_and_settings_refuse_a_ladder_out_of_order() -> None:
    with pytest.raises(ValueError, match="remind_share"):
        Ladder(remind_share=1.5)
    with pytest.raises(ValueError, match="district_leader_overdue"):
        Ladder(department_head_overdue=1.0, district_leader_overdue=1.0)
    with pytest.raises(SettingsError, match="CITYSTREAM_ESCALATION_DISTRICT_LEADER_OVERDUE"):
        Settings().replace(escalation_department_head_overdue=2.0)
    settings = Settings().replace(escalation_remind_share=0.5)
    assert Ladder.from_settings(settings).remind_share == 0.5


def test_a_record_raises_its_case_levels_before_its_transition() -> None:
    """A record dated after thresholds its previous state reached raises them, once."""
    first = on_record(LADDER, {}, "a", _state())
    assert [(c.key, c.sends) for c in first] == [("a", [])]
    assert first[0].entry is not None
    entries = {"a": first[0].entry}
    moved = _state(
        "signed", seq=2, dispatched_at=T0 + 9 * H, deadline=T0 + 10 * H, signed_at=T0 + 9 * H
    )
    changes = on_record(LADDER, entries, "a", moved)
    assert [c.key for c in changes] == ["a"]
    assert [r["level"] for r in changes[0].sends] == ["remind"]
    assert changes[0].entry is not None
    assert on_record(LADDER, {"a": changes[0].entry}, "a", moved) == []


def _dispatched(case_id: int, at: int) -> dict[str, Any]:
    """Another case, dispatched at ``at`` with 20 h to go."""
    return _state(case_id=case_id, opened_at=at - H, dispatched_at=at, deadline=at + 20 * H)


def _tick(
    now: int, entries: dict[Any, dict[str, Any]], remembered: dict[Any, dict[str, Any]]
) -> list[str]:
    changes = on_clock(LADDER, entries, now, horizon_ms=H)
    return [r["escalation_id"] for r in apply_changes(entries, remembered, changes)]


def _run(
    records: list[tuple[str, dict[str, Any]]],
    entries: dict[Any, dict[str, Any]],
    remembered: dict[Any, dict[str, Any]],
) -> list[str]:
    out: list[str] = []
    for key, record in records:
        changes = on_record(LADDER, entries, key, record, remembered=remembered)
        out += [r["escalation_id"] for r in apply_changes(entries, remembered, changes)]
    return out


def test_a_dropped_case_that_comes_back_keeps_its_levels() -> None:
    """A case escalated, closed and dropped, then reopened (an unsatisfied callback) with
    its deadline long past: no level a second time, the rest of the ladder from there."""
    entries: dict[Any, dict[str, Any]] = {}
    remembered: dict[Any, dict[str, Any]] = {}
    closed = _state("closed", seq=4, handled_at=T0 + 11 * H, closed_at=T0 + 12 * H)
    assert _run([("a", _state())], entries, remembered) == []
    assert _tick(T0 + 11 * H, entries, remembered) == ["42:remind", "42:supervise"]
    assert _run([("a", closed)], entries, remembered) == []
    assert _tick(T0 + 23 * H, entries, remembered) == []
    # the tick came 11 h after case a's closing, beyond the 1 h horizon: dropped
    assert "a" not in entries
    assert remembered["a"] == {"version": 4 << 32, "raised": ["remind", "supervise"]}
    # the closing record again (a redelivery): still only remembered, nothing raised
    assert _run([("a", _state("dispatched", seq=2))], entries, remembered) == []
    assert "a" not in entries
    # reopened at T0 + 24 h: no remind or supervise again; the next tick raises the
    # levels it had not reached (50 % overdue at T0 + 15 h, 100 % at T0 + 20 h)
    reopened = _state("rework", seq=6, handled_at=T0 + 11 * H)
    assert _run([("a", reopened)], entries, remembered) == []
    assert entries["a"]["raised"] == ["remind", "supervise"]
    assert _tick(T0 + 25 * H, entries, remembered) == [
        "42:department_head",
        "42:district_leader",
    ]


def test_a_dropped_case_without_levels_is_forgotten() -> None:
    entries: dict[Any, dict[str, Any]] = {}
    remembered: dict[Any, dict[str, Any]] = {}
    history = [
        ("a", _state()),
        ("a", _state("closed", seq=3, handled_at=T0 + H, closed_at=T0 + 2 * H)),
        ("b", _dispatched(43, T0 + 6 * H)),
    ]
    assert _run(history, entries, remembered) == []
    assert _tick(T0 + 6 * H, entries, remembered) == []
    assert set(entries) == {"b"} and remembered == {}
