"""The campaign calendar on the real ClickHouse server (18.16): the sink's loader writes it
once and a changed file with the next revision; the campaign views give the hand-made
figures and equal the Python reference."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from clickhouse_driver import Client

from sinks import reference_campaigns as ref
from sinks.clickhouse import ClickHouseSink
from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from sinks.streets import load_campaigns
from sinks.tables import rows_to_columns
from streams.settings import Settings
from tests.campaign_cases import CALENDAR, G1, G2, TZ, check_hand_made, hand_cases
from tests.kpi_rows import assert_rows_equal, stored_columns

pytestmark = pytest.mark.integration

TABLES = ("cases", "dispatches", "campaigns", "campaign_scope")


def _views(ex: DriverExecutor, db: str) -> tuple[dict, dict]:
    tables = {t: stored_columns(ex, db, t) for t in TABLES}
    now_ms = int(time.time() * 1000)
    results = assert_rows_equal(
        ex.query(f"SELECT * FROM {db}.kpi_campaigns"),
        ref.campaign_results(tables, TZ, now_ms),
        ("campaign_id",),
    )
    recurrence = assert_rows_equal(
        ex.query(f"SELECT * FROM {db}.kpi_campaign_recurrence"),
        ref.campaign_recurrence(tables, TZ, now_ms),
        ("campaign_id", "days"),
    )
    return results, recurrence


def test_the_calendar_loads_once_and_the_views_give_the_hand_made_figures(
    settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    ex, db = DriverExecutor(clickhouse), ch_database
    migrate(ex, db, settings.calendar.timezone)
    calendar = tmp_path / "campaigns.csv"
    calendar.write_text(CALENDAR, encoding="utf-8")
    s = settings.replace(campaigns_file=str(calendar), clickhouse_database=db)
    written = load_campaigns(s)
    grids = {
        g for (g,) in clickhouse.execute(f"SELECT grid_code FROM {db}.campaign_scope FINAL")
    } - {""}
    # B's community: its grids, G1 among them, not G2 (the district's unit-grid file)
    assert G1 in grids and G2 not in grids and all(g.startswith("410611001001") for g in grids)
    assert written == {"campaigns": 2, "campaign_scope": 3 + len(grids)}
    assert load_campaigns(s) == {"campaigns": 0, "campaign_scope": 0}  # a restart
    sink = ClickHouseSink(s, database=db)
    try:
        sink.add("cases", 0, 0, rows_to_columns("cases", hand_cases()))
        sink.drain(timeout_s=60)
    finally:
        sink.close()
    check_hand_made(*_views(ex, db))

    calendar.write_text(CALENDAR.replace("\nA,", "\nA2,"), encoding="utf-8")  # A renamed
    assert load_campaigns(s) == {"campaigns": 2, "campaign_scope": 3 + len(grids)}
    revisions = clickhouse.execute(f"SELECT max(revision) FROM {db}.campaigns")
    assert revisions == [(2,)]
    results, _ = _views(ex, db)
    assert sorted(results) == [("A2",), ("B",)]
    assert results[("A2",)]["found"] == 3
