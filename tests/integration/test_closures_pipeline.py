"""Closures back into dedup, live: real broker, Faust worker processes (issue 13).

Two manhole covers are reported by patrol inspectors four days ago: one fixed on the spot
(the case closes at once), one left for the department (its case stays open). The
lifecycle sends the close to the dedup tiles holding the first case. Three days later both
covers are reported again: the closed one's report opens a new case flagged a recurrence of
it; the open one's report joins its case although the category's two-day window is over,
since an open manhole-cover case keeps attracting reports for fourteen days (the
category's ``max_open_age_s``). The worker is killed between the two phases and restarted,
so the closure must also survive in the dedup changelog.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.app.kafka_admin import ensure_topics
from streams.contracts.columnar import decode_columns
from streams.contracts.fused import event_id_for
from streams.contracts.topics import CASE_STATE, CASES
from streams.runner import (
    WorkerProcess,
    free_port,
    produce_records,
    read_links,
    read_topic,
    scrape_metric,
    wait_until,
)
from streams.settings import Settings

pytestmark = pytest.mark.integration

ROLES = "normalize,dedup,dispatch,lifecycle"
DAY_MS = 86_400_000
TIMEOUT_S = 180.0
COVER_X = (35.7331, 114.2972)
COVER_Y = (35.7402, 114.2911)  # about a kilometre away


def _patrol(ref: str, at: tuple[float, float], event_ms: int, fixed: bool) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(event_ms / 1000))
    return {
        "report_id": ref,
        "inspector_id": "INS-017",
        "department": "municipal",
        "category": "C0101",
        "lat": at[0],
        "lon": at[1],
        "crs": "wgs84",
        "ts": stamp,
        "fixed_on_spot": fixed,
        "note": "",
        "photos": [],
    }


def _feed(reports: list[dict[str, Any]], event_ms: int) -> list[tuple[str, bytes, bytes, int]]:
    return [
        ("patrol", r["report_id"].encode(), orjson.dumps(r), event_ms + 60_000 + i)
        for i, r in enumerate(reports)
    ]


def _recurrence_of(s: Settings) -> dict[int, int]:
    out: dict[int, int] = {}
    for record in read_topic(s, s.kafka.topic(CASES)):
        _, _, cols = decode_columns(record.value, "cases")
        out.update(zip(cols["case_id"], cols["recurrence_of"], strict=True))
    return out


def _metric(port: int, name: str) -> float:
    try:
        return scrape_metric(port, name)
    except OSError:  # the worker's web server is not up yet
        return 0.0


def _closed(s: Settings) -> set[int]:
    rows = (orjson.loads(r.value) for r in read_topic(s, s.kafka.topic(CASE_STATE)))
    return {int(row["case_id"]) for row in rows if row["status"] == "closed"}


def test_a_report_after_a_close_is_a_recurrence_and_open_cases_keep_attracting(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    s = settings.replace(topic_prefix=f"{topic_name}.", app_id=f"{topic_name}-app", partitions=2)
    ensure_topics(s)
    first_ms = int(time.time() * 1000) - 4 * DAY_MS
    again_ms = first_ms + 3 * DAY_MS
    fixed, left = (
        _patrol("P-X-1", COVER_X, first_ms, True),
        _patrol("P-Y-1", COVER_Y, first_ms, False),
    )
    x_again = _patrol("P-X-2", COVER_X, again_ms, False)
    y_again = _patrol("P-Y-2", COVER_Y, again_ms, False)
    x1, y1, x2, y2 = (
        event_id_for("patrol", r["report_id"]) for r in (fixed, left, x_again, y_again)
    )

    port = free_port()
    worker = WorkerProcess(s, ROLES, port, tmp_path / "worker.log").start()
    try:
        produce_records(s, _feed([fixed, left], first_ms))
        closed_in_state = lambda: _metric(port, "citystream_cases_closed_in_state_total")  # noqa: E731
        assert wait_until(lambda: closed_in_state() >= 1, TIMEOUT_S, 1.0), (
            worker.log_path.read_text()[-3000:]
        )
        assert _closed(s) == {x1}
        assert scrape_metric(port, "citystream_closures_late_total") == 0
        # the case.updates topic goes Faust's per-message way: its fetcher must still
        # take our inline hand-off (streams/app/faust_internals/handoff.py); a Faust whose
        # wait_first changed shape would quietly fall back to the slow path
        handoffs = "citystream_faust_handoffs_total"
        inline = scrape_metric(port, handoffs, path="inline")
        assert inline > scrape_metric(port, handoffs, path="task"), f"{inline} inline hand-offs"
        worker.kill()  # the applied close must come back from the dedup changelog
        worker = WorkerProcess(s, ROLES, port, tmp_path / "worker-restarted.log").start()
        produce_records(s, _feed([x_again, y_again], again_ms))
        assert wait_until(lambda: len(read_links(s).case_of) >= 4, TIMEOUT_S, 1.0), (
            worker.log_path.read_text()[-3000:]
        )
    finally:
        worker.stop()

    links = read_links(s)
    assert links.conflicts == 0
    assert links.case_of == {x1: x1, y1: y1, x2: x2, y2: y1}
    assert _recurrence_of(s) == {x1: 0, y1: 0, x2: x1}
