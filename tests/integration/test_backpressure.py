"""A backlog bigger than the worker's memory bound passes whole, with the dedup reorder
buffer under the bound: the raw partitions ahead of the watermark pause (back-pressure to
the consumer), nothing is dropped, and the links are the offline replay's."""

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


def test_a_backlog_bigger_than_the_cap_passes_whole_with_the_buffer_under_it(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
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
    assert holds >= 1, f"the buffer never reached a quarter of the cap (peak {peak:.0f})"
    assert CAP // 4 <= peak < CAP, f"the reorder buffer held {peak:.0f} events, cap {CAP}"
    check_against_replay(s, feed)  # every valid report linked, as the replay links it
