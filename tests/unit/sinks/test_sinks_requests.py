"""Hotline request updates: the rows the sink writes and the view that shows each case the
platform's latest word on its requests (chdb)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sinks.records import request_update_row
from sinks.sql import ChdbExecutor
from streams.contracts.requests import RequestUpdate

Insert = Callable[[str, str, Mapping[str, Any]], None]
T0 = 1_690_765_200_000  # 2023-07-31 09:00 +08:00
MIN = 60_000


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [r[name] for r in rows] for name in rows[0]}


def test_case_request_updates_shows_the_latest_word_per_request(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    updates = [
        RequestUpdate(11, "HL-1", "open", "受理", "垃圾", T0 + 10 * MIN, T0 + 11 * MIN),
        RequestUpdate(11, "HL-1", "closed", "已清运", "垃圾", T0 + 50 * MIN, T0 + 51 * MIN),
        RequestUpdate(
            11, "HL-1", "closed", "已清运", "垃圾", T0 + 50 * MIN, T0 + 52 * MIN
        ),  # again
        RequestUpdate(12, "HL-2", "open", "", "又有垃圾", T0 + 20 * MIN, T0 + 21 * MIN),
        RequestUpdate(99, "HL-9", "open", "", "not linked yet", T0, T0),
    ]
    insert(migrated_db, "request_updates", _columns([request_update_row(u) for u in updates]))
    links = {
        "event_id": [11, 12],
        "case_id": [11, 11],  # both calls are about one case
        "source": [2, 2],
        "source_ref": ["HL-1", "HL-2"],
        "is_new": [1, 0],
        "recurrence_of": [0, 0],
        "event_time": [T0, T0 + 5 * MIN],
        "flags": [0, 0],
    }
    insert(migrated_db, "links", links)
    rows = chdb_executor.query(
        f"SELECT * FROM {migrated_db}.case_request_updates ORDER BY request_id"
    )
    got = [
        (r["case_id"], r["request_id"], r["updates"], r["status"], r["status_notes"]) for r in rows
    ]
    assert got == [(11, "HL-1", 2, "closed", "已清运"), (11, "HL-2", 1, "open", "")]


def test_request_updates_round_trip_and_refuse_what_is_not_one() -> None:
    update = RequestUpdate(11, "HL-1", "closed", "已清运", "垃圾", T0, T0 + MIN)
    assert RequestUpdate.from_json(update.to_json()) == update
    for bad in (b"[1]", b'{"event_id": 1}'):
        try:
            RequestUpdate.from_json(bad)
        except (ValueError, KeyError):
            continue
        raise AssertionError(f"{bad!r} was taken for a request update")
