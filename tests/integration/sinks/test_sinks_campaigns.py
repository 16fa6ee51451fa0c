"""The campaign calendar on the real ClickHouse server (18.16): the sink's loader writes it
once and a changed file with the next revision, both tables with one (migration 0022) and
then its commit (0023); a load stopped before its commit leaves the previous calendar in
force; an emptied file is in force empty; the campaign views give the hand-made figures and
equal the Python reference."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from clickhouse_driver import Client

from sinks.campaigns import CALENDAR_LOADS, CALENDAR_TABLES, CALENDAR_WRITES
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
        for t in CALENDAR_WRITES
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
    assert _revisions(clickhouse, db) == {t: [1, 2] for t in CALENDAR_WRITES}
    results, _ = campaign_views(ex, db)
    assert sorted(results) == [("A2",), ("B",)]
    assert results[("A2",)]["found"] == 3

    # a new English name changes the campaigns rows only: both tables get the revision
    calendar.write_text(CALENDAR.replace(",a,E0501", ",a (2),E0501"), encoding="utf-8")
    assert load_campaigns(s) == {"campaigns": 2, "campaign_scope": 3 + len(grids)}
    assert _revisions(clickhouse, db) == {t: [1, 2, 3] for t in CALENDAR_WRITES}


def test_a_load_stopped_before_its_commit_leaves_the_previous_calendar_in_force(
    settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    """Both tables of a new revision written, its commit not (the loader died before it):
    the views give the previous calendar whole, on 18.16, until the next load writes both
    tables above the uncommitted revision and commits it, and no merge drops the previous
    revision's rows."""
    ex, db = DriverExecutor(clickhouse), ch_database
    calendar = tmp_path / "campaigns.csv"
    s = _migrated(settings, clickhouse, db, calendar)
    load_campaigns(s)
    # B alone, district-wide, as a crashed load of another file wrote it
    b = ("B", "stalls", "乙", "b", "E0504", "", "", 1, date(2023, 8, 1), date(2023, 8, 10))
    clickhouse.execute(
        f"INSERT INTO {db}.campaigns (campaign_id, theme, name_zh, name_en, categories, "
        "streets, areas, whole_district, start_date, end_date, target_metric, target_value, "
        "revision) VALUES",
        [(*b, "", 0.0, 2)],
    )
    clickhouse.execute(
        f"INSERT INTO {db}.campaign_scope (campaign_id, category_key, grid_code, revision) VALUES",
        [("B", "E0504", "", 2)],
    )
    for table in CALENDAR_TABLES:  # a merge keeps the previous revision's rows
        clickhouse.execute(f"OPTIMIZE TABLE {db}.{table} FINAL")
    check_hand_made(*campaign_views(ex, db))  # A and B as loaded, B in its community

    assert load_campaigns(s) == {"campaigns": 0, "campaign_scope": 0}  # the file is in force
    calendar.write_text(CALENDAR.replace("\nA,", "\nA2,"), encoding="utf-8")
    written = load_campaigns(s)
    assert written["campaigns"] == 2 and written["campaign_scope"] > 3
    assert _revisions(clickhouse, db) == {
        "campaigns": [1, 2, 3],
        "campaign_scope": [1, 2, 3],
        CALENDAR_LOADS: [1, 3],
    }
    assert sorted(campaign_views(ex, db)[0]) == [("A2",), ("B",)]


def test_an_emptied_calendar_file_is_in_force_empty(
    settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    """Every campaign taken out of the file: the next start commits an empty calendar and
    the views show no campaign (0022 kept the last one in force for ever); a restart
    writes nothing."""
    ex, db = DriverExecutor(clickhouse), ch_database
    calendar = tmp_path / "campaigns.csv"
    s = _migrated(settings, clickhouse, db, calendar)
    load_campaigns(s)
    check_hand_made(*campaign_views(ex, db))
    calendar.write_text(CALENDAR.splitlines()[0] + "\n", encoding="utf-8")  # the header alone
    assert load_campaigns(s) == {"campaigns": 0, "campaign_scope": 0}
    assert _revisions(clickhouse, db)[CALENDAR_LOADS] == [1, 2]
    assert campaign_views(ex, db) == ({}, {})
    assert load_campaigns(s) == {"campaigns": 0, "campaign_scope": 0}
    assert _revisions(clickhouse, db)[CALENDAR_LOADS] == [1, 2]
