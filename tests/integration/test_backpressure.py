"""A backlog bigger than the worker's memory bound passes whole: the raw partitions ahead of
the watermark pause, and every raw partition while the normalizer is a budget ahead of the
dedup role on events.fused (back-pressure to the consumer, streams/app/fused_lead.py),
nothing is dropped, the links are the offline replay's, and the reorder buffer stays under
the bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.app.kafka_admin import ensure_topics
from streams.runner import scrape_metric
from streams.settings import Settings
from streams.simulator import Simulation
from tests.integration.pipeline_runs import (
    ReplayedFeed,
    check_against_replay,
    produce_feed,
    run_settings,
    start_workers,
    wait_accounted,
)

pytestmark = pytest.mark.integration

ROLES = "normalize,dedup"
TIMEOUT_S = 300.0
CAP = 1024  # CITYSTREAM_MAX_PENDING_EVENTS of the run (its least): a tenth of the feed


def _catch_up(settings: Settings, topic_name: str, tmp_path: Path) -> tuple[float, float]:
    """The whole feed on the broker before one worker starts; its buffer peak and holds,
    after checking that every record was accounted for and linked as the replay links it."""
    feed = ReplayedFeed.of(list(Simulation("ordinary", seed=7, scale=0.1).records()), settings)
    assert len(feed.case_of) > 10 * CAP, "the feed must be far bigger than the cap"
    s = run_settings(settings, topic_name, partitions=1, max_pending_events=CAP)
    ensure_topics(s)
    produce_feed(s, feed.records)  # all of it before the worker starts: a catch-up
    (worker,) = start_workers(s, ROLES, 1, tmp_path)
    try:
        wait_accounted(s, feed.expected_total, [worker], tmp_path, TIMEOUT_S)
        peak = scrape_metric(worker.web_port, "citystream_buffered_events_peak")
        holds = scrape_metric(worker.web_port, "citystream_backpressure_holds_total")
    finally:
        worker.stop()
    check_against_replay(s, feed)  # every valid report linked, as the replay links it
    return peak, holds


def test_a_backlog_bigger_than_the_cap_pauses_the_sources_and_passes_whole_under_the_cap(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    peak, holds = _catch_up(settings, topic_name, tmp_path)
    print(f"reorder buffer peak {peak:.0f} events at cap {CAP}, {holds:.0f} holds")
    assert holds >= 1, f"the buffer never reached a quarter of the cap (peak {peak:.0f})"
    assert CAP // 4 <= peak < CAP, f"the reorder buffer held {peak:.0f} events, cap {CAP}"
