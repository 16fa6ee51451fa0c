"""Hotline requests published again with an update, live (issue 13): real broker, Faust
workers and ClickHouse. The 12345 platform sends a request, then the same request twice
more with a new status and notes, and once unchanged. The request is one report (one
link, one case); the updates are stored once each and the case shows the latest; only the
unchanged copy is a duplicate dead letter."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_driver import Client
from pipeline_runs import start_workers

from streams.app.kafka_admin import ensure_topics
from streams.contracts.fused import event_id_for
from streams.runner import count_dead_letters, produce_records, read_links, wait_until
from streams.settings import Settings

pytestmark = pytest.mark.integration

ROLES = "normalize,dedup,sink"
TIMEOUT_S = 180.0


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ms / 1000))


def _request(called_ms: int, **changes: Any) -> dict[str, Any]:
    return {
        "service_request_id": "HL-UPD-1",
        "status": "open",
        "service_code": "SW-GARB",
        "description": "路边垃圾堆积",
        "requested_datetime": _iso(called_ms),
        "lat": 35.7402,
        "long": 114.2911,
        "agency_responsible": "sanitation",
    } | changes


def test_a_republished_request_updates_its_case(
    pipeline_settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    s = pipeline_settings.replace(partitions=2)
    ensure_topics(s)
    called = int(time.time() * 1000) - 3_600_000
    first = _request(called)
    taken = _request(called, status_notes="已受理", updated_datetime=_iso(called + 600_000))
    done = _request(
        called, status="closed", status_notes="已清运", updated_datetime=_iso(called + 1_800_000)
    )
    feed = [first, taken, done, done, first]  # `done` delivered twice, `first` sent again
    records = [
        ("hotline", b"HL-UPD-1", orjson.dumps(r), called + 60_000 * (i + 1))
        for i, r in enumerate(feed)
    ]
    workers = start_workers(s, ROLES, 1, tmp_path)
    try:
        produce_records(s, records)

        def stored() -> bool:
            view = f"{ch_database}.case_request_updates"
            rows = clickhouse.execute(f"SELECT max(updates), count() FROM {view}")
            return int(rows[0][0]) >= 2 and sum(count_dead_letters(s).values()) >= 1

        assert wait_until(stored, TIMEOUT_S, 1.0), workers[0].log_path.read_text()[-3000:]
    finally:
        for w in workers:
            w.stop()
    event_id = event_id_for("hotline", "HL-UPD-1")
    assert read_links(s).case_of == {event_id: event_id}
    assert count_dead_letters(s) == {"duplicate_source_id": 1}
    rows = clickhouse.execute(
        f"SELECT case_id, request_id, updates, status, status_notes "
        f"FROM {ch_database}.case_request_updates"
    )
    assert rows == [(event_id, "HL-UPD-1", 2, "closed", "已清运")]
