"""The KPI report's text table and queries, ``citystream kpi``'s options and the record
converters."""

from __future__ import annotations

from datetime import date

import pytest

from sinks.kpi.queries import load_query
from sinks.kpi.report import league_text
from sinks.records import dead_letter_id, dead_letter_row
from sinks.sql import ChdbExecutor
from sinks.tables import coerce_columns, rows_to_columns
from streams.cases.records import case_version
from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason

ROW = {"department": "sanitation", "opened": 4, "due": 3, "closed": 2, "closed_on_time": 1,
       "closure_rate": 66.666, "on_time_closure_rate": 33.3, "on_time_dispatch_rate": 75.0,
       "on_time_handling_rate": 33.3, "rework_rate": 50.0, "volume_score": 100.0,
       "composite": 55.0, "grade": "D"}  # fmt: skip


def test_league_text_lists_departments_in_order() -> None:
    text = league_text([ROW, {**ROW, "department": "municipal", "grade": "E"}], date(2023, 7, 31))
    lines = text.splitlines()
    assert "2023-07-31" in lines[0]
    assert lines[2].startswith("sanitation") and lines[2].rstrip().endswith("D")
    assert lines[3].startswith("municipal")
    assert "66.7" in lines[2]
    assert "no department" in league_text([], date(2023, 7, 31))


def test_report_queries_run_on_a_current_release(
    chdb_executor: ChdbExecutor, migrated_db: str
) -> None:
    days = {"from": date(2023, 7, 1), "to": date(2023, 7, 31)}
    for name in ("trend", "hotspots"):
        sql = load_query(name, database=migrated_db, tz="Asia/Shanghai", **days)
        assert "{" not in sql
        assert chdb_executor.query(sql) == []
    week = {"period": "week", "start": date(2023, 7, 3)}
    assert chdb_executor.query(load_query("league", database=migrated_db, tz="UTC", **week)) == []


def test_case_version_orders_lifecycle_steps_before_event_counts() -> None:
    assert case_version(2, 1) > case_version(1, 4_000_000) > case_version(1, 3)
    with pytest.raises(ValueError):
        case_version(-1, 0)


def test_dead_letter_rows_have_stable_distinct_ids() -> None:
    dl = DeadLetter("hotline", Reason(next(iter(Reason)).value), "bad json", b"{", "raw.hotline",
                    0, 17)  # fmt: skip
    other = DeadLetter(dl.source, dl.reason, dl.message, b"{", "raw.hotline", 0, 18)
    same = DeadLetter(dl.source, dl.reason, "reworded", b"{", "raw.hotline", 0, 17)
    assert dead_letter_id(dl) == dead_letter_id(same)
    assert dead_letter_id(dl) != dead_letter_id(other)
    row = dead_letter_row(dl, received_at_ms=1_690_000_000_000)
    arrays = coerce_columns("dead_letters", rows_to_columns("dead_letters", [row]))
    assert arrays[4].tolist() == ["ew=="] and arrays[-1].tolist() == [1_690_000_000]
