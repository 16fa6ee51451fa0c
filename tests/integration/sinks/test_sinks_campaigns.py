"""The campaign calendar on the real ClickHouse server (18.16): the sink's loader writes it
once and a changed file with the next revision, both tables with one (migration 0022); a
half-written load leaves the previous calendar in force; the campaign views give the
hand-made figures and equal the Python reference."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from clickhouse_driver import Client

from sinks.clickhouse import ClickHouseSink
from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from sinks.streets import load_campaigns
from sinks.tables import rows_to_columns
from streams.settings import Settings
from tests.campaign_cases import (
    CALENDAR,
    G1,
    G2,
    campaign_views,
    check_hand_made,
    hand_cases,
)

pytestmark = pytest.mark.integration


def _migrated(settings: Settings, clickhouse: Client, db: str, calendar: Path) -> Settings:
    """The database migrated, the hand-made cases stored and the calendar file written;
    the settings that load it."""
    ex = DriverExecutor(clickhouse)
    migrate(ex, db, settings.calendar.timezone)
    calendar.write_text(CALENDAR, encoding="utf-8")
    s = settings.replace(campaigns_file=str(calendar), clickhouse_database=db)
    sink = ClickHouseSink(s, database=db)
    try:
        sink.add("cases", 0, 0, rows_to_columns("cases", hand_cases()))
        sink.drain(timeout_s=60)
    finally:
        sink.close()
    return s


def _revisions(clickhouse: Client, db: str) -> dict[str, list[int]]:
    return {
        t: sorted(r for (r,) in clickhouse.execute(f"SELECT DISTINCT revision FROM {db}.{t}"))
        for t in ("campaigns", "campaign_scope")
    }


def test_the_calendar_loads_once_and_the_views_give_the_hand_made_figures(
    settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    ex, db = DriverExecutor(clickhouse), ch_database
    calendar = tmp_path / "campaigns.csv"
    s = _migrated(settings, clickhouse, db, calendar)
    written = load_campaigns(s)
    grids = {g for (g,) in clickhouse.execute(f"SELECT grid_code FROM {db}.campaign_scope")} - {""}
    # B's community: its grids, G1 among them, not G2 (the district's unit-grid file)
    assert G1 in grids and G2 not in grids and all(g.startswith("410611001001") for g in grids)
    assert written == {"campaigns": 2, "campaign_scope": 3 + len(grids)}
    assert load_campaigns(s) == {"campaigns": 0, "campaign_scope": 0}  # a restart
    check_hand_made(*campaign_views(ex, db))

    calendar.write_text(CALENDAR.replace("\nA,", "\nA2,"), encoding="utf-8")  # A renamed
    assert load_campaigns(s) == {"campaigns": 2, "campaign_scope": 3 + len(grids)}
    assert _revisions(clickhouse, db) == {"campaigns": [1, 2], "campaign_scope": [1, 2]}
    results, _ = campaign_views(ex, db)
    assert sorted(results) == [("A2",), ("B",)]
    assert results[("A2",)]["found"] == 3

    # a new English name changes the campaigns rows only: both tables get the revision
    calendar.write_text(CALENDAR.replace(",a,E0501", ",a (2),E0501"), encoding="utf-8")
    assert load_campaigns(s) == {"campaigns": 2, "campaign_scope": 3 + len(grids)}
    assert _revisions(clickhouse, db) == {"campaigns": [1, 2, 3], "campaign_scope": [1, 2, 3]}


def test_a_load_stopped_half_way_leaves_the_previous_calendar_in_force(
    settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    """The campaigns of a new revision written, its scope not (the loader died between the
    two inserts): the views give the previous calendar whole, on 18.16, until the next load
    writes both tables above the half-written revision, and no merge drops the previous
    revision's rows."""
    ex, db = DriverExecutor(clickhouse), ch_database
    calendar = tmp_path / "campaigns.csv"
    s = _migrated(settings, clickhouse, db, calendar)
    load_campaigns(s)
    columns = "campaign_id, theme, name_zh, name_en, categories, streets, areas, whole_district"
    clickhouse.execute(  # B alone, district-wide, as a crashed load of another file wrote it
        f"INSERT INTO {db}.campaigns ({columns}, start_date, end_date, target_metric, "
        "target_value, revision) VALUES",
        [
            (
                "B",
                "stalls",
                "乙",
                "b",
                "E0504",
                "",
                "",
                1,
                date(2023, 8, 1),
                date(2023, 8, 10),
                "",
                0.0,
                2,
            )
        ],
    )
    # a merge keeps the previous revision's rows (0012's key, the campaign, dropped them)
    clickhouse.execute(f"OPTIMIZE TABLE {db}.campaigns FINAL")
    check_hand_made(*campaign_views(ex, db))  # A and B as loaded, B in its community

    assert load_campaigns(s) == {"campaigns": 0, "campaign_scope": 0}  # the file is in force
    calendar.write_text(CALENDAR.replace("\nA,", "\nA2,"), encoding="utf-8")
    written = load_campaigns(s)
    assert written["campaigns"] == 2 and written["campaign_scope"] > 3
    assert _revisions(clickhouse, db) == {"campaigns": [1, 2, 3], "campaign_scope": [1, 3]}
    assert sorted(campaign_views(ex, db)[0]) == [("A2",), ("B",)]
