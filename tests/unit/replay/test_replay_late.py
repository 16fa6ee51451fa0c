"""Late reports in the offline replay: a day with hotline tickets forwarded 6 h to 3 days
late and a gateway power cut whose buffered readings arrive at once (scenario ``late``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from replay_feed import Feed

from streams.contracts.fused import FLAG_BEYOND_STATE, FLAG_LATE, Source
from streams.contracts.reasons import Reason
from streams.intake.normalize import Normalizer
from streams.replay import RawInput, ReplayResult, replay
from streams.replay import core as replay_core
from streams.settings import PipelineSettings, Settings
from streams.simulator import Simulation

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def late_feed() -> Feed:
    records = list(Simulation("late", seed=3, scale=0.15).records())
    return Feed(records, [t for r in records for t in r.truth])


@pytest.fixture(scope="module")
def late_result(late_feed: Feed, settings: Settings) -> ReplayResult:
    return replay(late_feed.inputs, settings)


def _key(link: dict[str, Any]) -> tuple[str, str]:
    return Source(link["source"]).name.lower(), link["source_ref"]


def _delay(link: dict[str, Any]) -> int:
    return int(link["ingest_time_ms"]) - int(link["event_time_ms"])


def _check_all_linked(feed: Feed, result: ReplayResult) -> None:
    accepted = Counter((t.source, t.source_ref) for t in feed.truth if not t.expected_reason)
    assert Counter(_key(link) for link in result.links) == accepted
    expected = Counter(t.expected_reason for t in feed.truth if t.expected_reason)
    assert Counter(d.reason.value for d in result.dead_letters) == expected
    assert Reason.TOO_LATE not in {d.reason for d in result.dead_letters}
    opened = [link["event_id"] for link in result.links if link["is_new"]]
    assert opened == [c["case_id"] for c in result.cases]


def test_the_feed_is_late_where_the_scenario_says(late_result: ReplayResult) -> None:
    late_calls = [
        link
        for link in late_result.links
        if link["source"] == Source.HOTLINE and _delay(link) > 6 * HOUR_MS
    ]
    assert len(late_calls) >= 5
    assert max(_delay(link) for link in late_calls) > 24 * HOUR_MS
    buffered = [
        link
        for link in late_result.links
        if link["source"] == Source.SENSOR and _delay(link) > 30 * 60_000
    ]
    assert len(buffered) >= 20  # the power cut's readings
    assert max(_delay(link) for link in buffered) <= 2 * HOUR_MS + 30_000


def test_every_valid_record_is_linked_and_late_ones_are_flagged(
    late_feed: Feed, late_result: ReplayResult, settings: Settings
) -> None:
    _check_all_linked(late_feed, late_result)
    for link in late_result.links:
        late = _delay(link) > settings.pipeline.late_after_s * 1000
        assert bool(link["flags"] & FLAG_LATE) == late, link
        assert not link["flags"] & FLAG_BEYOND_STATE  # a week's reach covers 3 days
    # late calls were matched: some of them joined the case of an earlier report
    late_links = [link for link in late_result.links if link["flags"] & FLAG_LATE]
    assert any(not link["is_new"] for link in late_links)


def test_beyond_the_state_a_late_event_gets_a_case_of_its_own(
    late_feed: Feed, settings: Settings
) -> None:
    short = settings.replace(allowed_lateness_s=HOUR_MS // 1000)
    result = replay(late_feed.inputs, short)
    _check_all_linked(late_feed, result)
    beyond = [link for link in result.links if link["flags"] & FLAG_BEYOND_STATE]
    assert beyond
    # late calls, and power-cut readings (up to 2 h behind: not flagged late, but beyond
    # a 1 h reach)
    assert any(link["flags"] & FLAG_LATE for link in beyond)
    assert any(link["source"] == Source.SENSOR for link in beyond)
    assert all(link["case_id"] == link["event_id"] and link["is_new"] for link in beyond)
    cases = {c["case_id"]: c for c in result.cases}
    assert all(cases[link["case_id"]]["flags"] & FLAG_BEYOND_STATE for link in beyond)


@pytest.mark.parametrize("lateness_s", [PipelineSettings.allowed_lateness_s, 86_400])
def test_late_results_do_not_depend_on_batch_sizes(
    late_feed: Feed, settings: Settings, monkeypatch: pytest.MonkeyPatch, lateness_s: int
) -> None:
    s = settings.replace(allowed_lateness_s=lateness_s)
    whole = replay(late_feed.inputs, s)
    # small dedup batches: every tile evicts often, which must not change a result
    monkeypatch.setattr(replay_core, "_NORMALIZE_CHUNK", 41)
    monkeypatch.setattr(replay_core, "_DEDUP_CHUNK", 97)
    small = replay(late_feed.inputs, s)
    assert small.links == whole.links
    assert small.cases == whole.cases


def test_without_arrival_times_nothing_is_late(late_feed: Feed, settings: Settings) -> None:
    # a CSV export: no arrival times, so each record is taken to arrive when it happened
    # (the normalizer's clock, days later, must not make it late)
    records = late_feed.records[:400]
    days_later = max(r.arrival_ms for r in records) + 4 * 24 * HOUR_MS
    normalizer = Normalizer.from_settings(settings, now_fn=lambda: days_later)
    result = replay([RawInput(r.source, r.value) for r in records], settings, normalizer)
    assert result.links
    assert not any(link["flags"] & FLAG_LATE for link in result.links)
