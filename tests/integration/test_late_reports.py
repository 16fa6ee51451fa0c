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

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from clickhouse_driver import Client

from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from streams.app.kafka_admin import ensure_topics
from streams.contracts.fused import FLAG_BEYOND_STATE, FLAG_LATE, Source
from streams.replay import RawInput, replay
from streams.runner import (
    LinkSet,
    WorkerProcess,
    count_dead_letters,
    free_port,
    produce_records,
    read_links,
    wait_until,
)
from streams.settings import Settings
from streams.simulator import SimRecord, Simulation

pytestmark = pytest.mark.integration

LATENESS_S = 12 * 3600
TIMEOUT_S = 240.0


@dataclass(frozen=True)
class LateFeed:
    records: list[SimRecord]
    case_of: dict[int, int]  # the replay's event -> case
    flags: dict[int, int]  # the replay's event -> flags of its link
    bad: Counter[str]  # expected dead letters by reason

    @property
    def expected_total(self) -> int:
        return len(self.case_of) + sum(self.bad.values())

    def count(self, bit: int) -> int:
        return sum(1 for f in self.flags.values() if f & bit)


def _settings(base: Settings, prefix: str, partitions: int) -> Settings:
    return base.replace(
        topic_prefix=f"{prefix}.",
        app_id=f"{prefix}-app",
        partitions=partitions,
        allowed_lateness_s=LATENESS_S,
    )


@pytest.fixture(scope="module")
def late_feed(settings: Settings) -> LateFeed:
    records = list(Simulation("late", seed=4, scale=0.05).records())
    result = replay(
        [RawInput(r.source, r.value, r.arrival_ms) for r in records],
        settings.replace(allowed_lateness_s=LATENESS_S),
    )
    truth = [t for r in records for t in r.truth]
    assert len(result.links) == sum(1 for t in truth if not t.expected_reason)
    bad = Counter(t.expected_reason for t in truth if t.expected_reason)
    assert "too_late" not in bad and sum(bad.values()) >= 15
    feed = LateFeed(
        records,
        {link["event_id"]: link["case_id"] for link in result.links},
        {link["event_id"]: link["flags"] for link in result.links},
        bad,
    )
    beyond = [link for link in result.links if link["flags"] & FLAG_BEYOND_STATE]
    matched_late = [
        link
        for link in result.links
        if link["flags"] & FLAG_LATE and not link["flags"] & FLAG_BEYOND_STATE
    ]
    buffered = [
        link
        for link in result.links
        if link["source"] == Source.SENSOR
        and link["ingest_time_ms"] - link["event_time_ms"] > 30 * 60_000
    ]
    # the day must exercise every path: late and matched, beyond the state, a power cut
    assert any(link["flags"] & FLAG_LATE for link in beyond)
    assert any(link["case_id"] != link["event_id"] for link in matched_late)  # joined one
    assert len(buffered) >= 10
    return feed


def _done(s: Settings, feed: LateFeed) -> bool:
    return len(read_links(s).case_of) + sum(count_dead_letters(s).values()) >= feed.expected_total


def _run(
    s: Settings,
    feed: LateFeed,
    roles: str,
    workers: int,
    tmp_path: Path,
    stored: Callable[[], bool] = lambda: True,
) -> LinkSet:
    """Feed the day; wait until every record is linked or dead-lettered and ``stored``."""
    ensure_topics(s)
    procs = [
        WorkerProcess(s, roles, free_port(), tmp_path / f"worker{i}.log").start()
        for i in range(workers)
    ]

    def check_alive() -> None:
        dead = [w.log_path for w in procs if not w.alive]
        assert not dead, f"worker died: {dead[0].read_text()[-3000:]}"

    try:
        produce_records(s, ((r.source, r.key, r.value, r.arrival_ms) for r in feed.records))
        finished = wait_until(lambda: _done(s, feed) and stored(), TIMEOUT_S, 2.0, check_alive)
        logs = "\n".join(p.read_text()[-2000:] for p in tmp_path.glob("worker*.log"))
        assert finished, f"pipeline did not account for every record in time\n{logs}"
    finally:
        for w in procs:
            w.stop()
    links = read_links(s)
    assert links.conflicts == 0
    assert links.case_of == feed.case_of, "cases differ from the offline replay"
    assert links.flags == feed.flags, "late / beyond-state flags differ from the replay"
    assert Counter(count_dead_letters(s)) == feed.bad  # nothing dead-lettered for lateness
    return links


def _count(client: Client, db: str, sql: str) -> int:
    return int(client.execute(sql.format(db=db))[0][0])


def test_late_day_one_worker_into_clickhouse(
    settings: Settings,
    topic_name: str,
    clickhouse: Client,
    ch_database: str,
    late_feed: LateFeed,
    tmp_path: Path,
) -> None:
    s = _settings(settings, topic_name, 1).replace(clickhouse_database=ch_database)
    migrate(DriverExecutor(clickhouse), ch_database, s.calendar.timezone)
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
    settings: Settings, topic_name: str, late_feed: LateFeed, tmp_path: Path
) -> None:
    _run(_settings(settings, topic_name, 8), late_feed, "normalize,dedup", 3, tmp_path)
