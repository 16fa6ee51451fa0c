"""A backlog bigger than the worker's memory bound passes whole: the raw partitions ahead of
the watermark pause, and every raw partition while the normalizer is a budget ahead of the
dedup role on events.fused (back-pressure to the consumer, streams/app/fused_lead.py),
nothing is dropped, the links are the offline replay's, and the reorder buffer stays under
the bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.app.kafka_admin import ensure_topics
from streams.runner import WorkerProcess, free_port, scrape_metric
from streams.settings import Settings
from streams.simulator import Simulation
from tests.integration.pipeline_runs import (
    ReplayedFeed,
    check_against_replay,
    produce_feed,
    run_settings,
    wait_accounted,
)

pytestmark = pytest.mark.integration

TIMEOUT_S = 300.0
CAP = 1024  # CITYSTREAM_MAX_PENDING_EVENTS of the run (its least): a tenth of the feed


def _catch_up(
    settings: Settings, topic_name: str, tmp_path: Path, processes: tuple[str, ...]
) -> tuple[float, float]:
    """The whole feed on the broker before the workers start (one per role set of
    ``processes``, the last one running dedup); the dedup buffer's peak and the holds,
    after checking that every record was accounted for and linked as the replay links it."""
    feed = ReplayedFeed.of(list(Simulation("ordinary", seed=7, scale=0.1).records()), settings)
    assert len(feed.case_of) > 10 * CAP, "the feed must be far bigger than the cap"
    s = run_settings(settings, topic_name, partitions=1, max_pending_events=CAP)
    ensure_topics(s)
    produce_feed(s, feed.records)  # all of it before the worker starts: a catch-up
    workers = [
        WorkerProcess(s, roles, free_port(), tmp_path / f"worker-{roles}.log").start()
        for roles in processes
    ]
    try:
        wait_accounted(s, feed.expected_total, workers, tmp_path, TIMEOUT_S)
        peak = scrape_metric(workers[-1].web_port, "citystream_buffered_events_peak")
        holds = sum(
            scrape_metric(w.web_port, "citystream_backpressure_holds_total") for w in workers
        )
    finally:
        for worker in workers:
            worker.stop()
    check_against_replay(s, feed)  # every valid report linked, as the replay links it
    return peak, holds


def test_a_backlog_bigger_than_the_cap_pauses_the_sources_and_passes_whole_under_the_cap(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    peak, holds = _catch_up(settings, topic_name, tmp_path, ("normalize,dedup",))
    print(f"reorder buffer peak {peak:.0f} events at cap {CAP}, {holds:.0f} holds")
    assert holds >= 1, f"the buffer never reached a quarter of the cap (peak {peak:.0f})"
    assert CAP // 4 <= peak < CAP, f"the reorder buffer held {peak:.0f} events, cap {CAP}"


def test_one_process_per_role_the_normalizer_follows_dedup_s_commits_under_the_cap(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    # the compose topology: normalize in one process, dedup in another; the normalizer's
    # lead on events.fused is counted off by what the dedup group commits
    peak, holds = _catch_up(settings, topic_name, tmp_path, ("normalize", "dedup"))
    print(f"one process per role: buffer peak {peak:.0f} at cap {CAP}, {holds:.0f} holds")
    assert holds >= 1, "the normalizer never waited for dedup"
    assert peak < CAP, f"the reorder buffer held {peak:.0f} events, cap {CAP}"
