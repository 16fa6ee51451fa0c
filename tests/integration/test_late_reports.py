"""Late reports on the real broker, Faust worker processes and ClickHouse (issue 12).

The feed is a simulated day on which a tenth of the hotline calls are forwarded 6 h to 3
days after they were made and a quarter of the sensor gateways lose power for 2 h, then
deliver what they buffered at once (scenario ``late``). The dedup state reaches back one
half a day here (``allowed_lateness_s``; a week by default), so the late calls take both
paths: matched against the tile's state (one joins the case an earlier report opened), or
beyond it and given a case of their own. Whatever
the partitions and workers, every valid record ends linked to the case the offline replay
gives it, flagged as the replay flags it, and nothing is dead-lettered for being late.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from clickhouse_driver import Client

from streams.contracts.fused import FLAG_BEYOND_STATE, FLAG_LATE, Source
from streams.runner import LinkSet
from streams.settings import Settings
from streams.simulator import Simulation
from tests.integration.pipeline_runs import ReplayedFeed, run_feed, run_settings

pytestmark = pytest.mark.integration

LATENESS_S = 12 * 3600
TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def late_feed(settings: Settings) -> ReplayedFeed:
    records = list(Simulation("late", seed=4, scale=0.05).records())
    feed = ReplayedFeed.of(records, settings.replace(allowed_lateness_s=LATENESS_S))
    truth = [t for r in records for t in r.truth]
    assert len(feed.links) == sum(1 for t in truth if not t.expected_reason)
    assert "too_late" not in feed.bad and sum(feed.bad.values()) >= 15
    beyond = [link for link in feed.links if link["flags"] & FLAG_BEYOND_STATE]
    matched_late = [
        link
        for link in feed.links
        if link["flags"] & FLAG_LATE and not link["flags"] & FLAG_BEYOND_STATE
    ]
    buffered = [
        link
        for link in feed.links
        if link["source"] == Source.SENSOR
        and link["ingest_time_ms"] - link["event_time_ms"] > 30 * 60_000
    ]
    # the day must exercise every path: late and matched, beyond the state, a power cut
    assert any(link["flags"] & FLAG_LATE for link in beyond)
    assert any(link["case_id"] != link["event_id"] for link in matched_late)  # joined one
    assert len(buffered) >= 10
    return feed


def _run(
    s: Settings,
    feed: ReplayedFeed,
    roles: str,
    workers: int,
    tmp_path: Path,
    stored: Callable[[], bool] = lambda: True,
) -> LinkSet:
    """Feed the day; every record is linked or dead-lettered (and ``stored``); the links
    and their flags are the replay's, nothing is dead-lettered for lateness."""
    return run_feed(
        s, feed, roles, workers, tmp_path, timeout_s=TIMEOUT_S, stored=stored, flags=True
    )


def _count(client: Client, db: str, sql: str) -> int:
    return int(client.execute(sql.format(db=db))[0][0])


def test_late_day_one_worker_into_clickhouse(
    pipeline_settings: Settings,
    clickhouse: Client,
    ch_database: str,
    late_feed: ReplayedFeed,
    tmp_path: Path,
) -> None:
    s = pipeline_settings.replace(partitions=1, allowed_lateness_s=LATENESS_S)
    n = len(late_feed.case_of)

    def stored() -> bool:
        sql = "SELECT count() FROM {db}.links FINAL"
        return _count(clickhouse, ch_database, sql) >= n

    _run(s, late_feed, "normalize,dedup,sink", 1, tmp_path, stored)
    links = dict(clickhouse.execute(f"SELECT event_id, flags FROM {ch_database}.links FINAL"))
    assert links == late_feed.flags
    events = dict(clickhouse.execute(f"SELECT event_id, flags FROM {ch_database}.events FINAL"))
    assert set(events) == set(late_feed.flags)
    # the events table has the late bit (the normalizer's); beyond state is dedup's, links only
    assert {e: f & FLAG_LATE for e, f in events.items()} == {
        e: f & FLAG_LATE for e, f in late_feed.flags.items()
    }
    day = f"SELECT sum({{col}}) FROM {ch_database}.kpi_intake WHERE period = 'day'"
    assert _count(clickhouse, ch_database, day.format(col="late_reports")) == late_feed.count(
        FLAG_LATE
    )
    assert _count(clickhouse, ch_database, day.format(col="beyond_state")) == late_feed.count(
        FLAG_BEYOND_STATE
    )
    assert _count(clickhouse, ch_database, day.format(col="reports")) == n
    view = f"SELECT count() FROM {ch_database}.report_lateness WHERE late = 1 AND delay_min > 360"
    assert _count(clickhouse, ch_database, view) == late_feed.count(FLAG_LATE)


def test_late_day_eight_partitions_three_workers_match_the_replay(
    settings: Settings, topic_name: str, late_feed: ReplayedFeed, tmp_path: Path
) -> None:
    s = run_settings(settings, topic_name, partitions=8, allowed_lateness_s=LATENESS_S)
    _run(s, late_feed, "normalize,dedup", 3, tmp_path)
