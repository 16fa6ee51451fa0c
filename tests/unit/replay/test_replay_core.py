"""Offline replay of a simulated feed: determinism, batch independence, reconciliation."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from replay_feed import Feed

from streams.contracts.fused import Source
from streams.replay import ReplayResult, replay
from streams.replay import core as replay_core
from streams.settings import Settings


@pytest.fixture(scope="module")
def result(feed: Feed, settings: Settings) -> ReplayResult:
    return replay(feed.inputs, settings)


def _fingerprint(r: ReplayResult) -> tuple[Any, ...]:
    letters = sorted((d.source, d.reason.value, d.original) for d in r.dead_letters)
    return (r.links, r.cases, letters, dict(r.records_in))


def _key(link: dict[str, Any]) -> tuple[str, str]:
    return Source(link["source"]).name.lower(), link["source_ref"]


def test_every_accepted_report_is_linked_exactly_once(feed: Feed, result: ReplayResult) -> None:
    accepted = Counter((t.source, t.source_ref) for t in feed.truth if not t.expected_reason)
    assert accepted and max(accepted.values()) == 1
    linked = Counter(_key(link) for link in result.links)
    assert linked == accepted
    assert len({link["event_id"] for link in result.links}) == len(result.links)


def test_cases_and_links_agree(result: ReplayResult) -> None:
    case_ids = [c["case_id"] for c in result.cases]
    assert len(set(case_ids)) == len(case_ids)
    opened = [link["event_id"] for link in result.links if link["is_new"]]
    assert opened == case_ids  # both in canonical order
    assert {link["case_id"] for link in result.links} == set(case_ids)
    assert 0 < len(case_ids) < len(result.links)  # the feed has duplicates to merge


def test_dead_letters_match_the_expected_reasons(feed: Feed, result: ReplayResult) -> None:
    expected = Counter(t.expected_reason for t in feed.truth if t.expected_reason)
    got = Counter(d.reason.value for d in result.dead_letters)
    assert expected and got == expected


def test_summary_reconciles(feed: Feed, result: ReplayResult) -> None:
    s = result.summary()
    assert s["records_total"] == len(feed.records)
    assert s["records_in"] == dict(Counter(r.source for r in feed.records))
    assert s["events"] == len(result.links)
    assert s["cases"] == len(result.cases)
    assert s["duplicates_merged"] == s["events"] - s["cases"]
    assert s["dead_letters"] == len(result.dead_letters)
    # every report (a gateway batch carries several) ends as one link or one dead letter
    assert s["events"] + s["dead_letters"] == len(feed.truth)


def test_replay_is_deterministic(feed: Feed, settings: Settings, result: ReplayResult) -> None:
    assert _fingerprint(replay(feed.inputs, settings)) == _fingerprint(result)


def test_replay_does_not_depend_on_batch_sizes(
    feed: Feed, settings: Settings, result: ReplayResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_core, "_NORMALIZE_CHUNK", 37)
    monkeypatch.setattr(replay_core, "_DEDUP_CHUNK", 53)
    assert _fingerprint(replay(feed.inputs, settings)) == _fingerprint(result)
