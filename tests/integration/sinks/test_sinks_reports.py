"""The meeting reports' SQL on the ClickHouse server (18.16): a synthetic month written by
the sink, each meeting's report equal to the Python reference, read from the raw rows
(every month stale) and again from the rollups after a refresh (docs/bi/rollups.md)."""

from __future__ import annotations

import time
from datetime import date

import pytest
from clickhouse_driver import Client

from sinks.clickhouse import ClickHouseSink
from sinks.kpi.meetings import MEETINGS, period_of
from sinks.kpi.sections import latest_case_day, report_data
from sinks.migrate import migrate
from sinks.rollups import refresh_all
from sinks.sql import DriverExecutor
from streams.settings import Settings
from tests.report_figures import assert_report_matches
from tests.report_store import report_tables

pytestmark = pytest.mark.integration


def test_meeting_reports_on_the_server_equal_the_reference(
    settings: Settings, clickhouse: Client, ch_database: str
) -> None:
    tz = settings.calendar.timezone
    ex = DriverExecutor(clickhouse)
    migrate(ex, ch_database, tz)
    tables = report_tables()  # with cases for the surge and the chronic places, a campaign
    sink = ClickHouseSink(settings, database=ch_database)
    try:
        for offset, (table, columns) in enumerate(tables.items()):
            sink.add(table, 0, offset, columns)
        sink.drain(timeout_s=60)
    finally:
        sink.close()
    now_s = int(time.time())
    latest = latest_case_day(ex, ch_database, tz)
    stale = f"SELECT count() AS n FROM {ch_database}.rollup_stale"
    for refreshed in (False, True):
        if refreshed:
            refresh_all(ex, ch_database)
        assert (ex.query(stale)[0]["n"] == 0) == refreshed
        for meeting in MEETINGS.values():
            for day in (latest, date(2023, 7, 10)):
                report = report_data(ex, ch_database, tz, period_of(meeting, day), now_s)
                checked = assert_report_matches(report, tables, tz, now_s * 1000)
                assert report.sections["league"] and "overdue" in checked, meeting.name
    july = period_of(MEETINGS["monthly"], date(2023, 7, 10))
    campaigns = report_data(ex, ch_database, tz, july, now_s).sections["campaign"]
    assert [r["campaign_id"] for r in campaigns] == ["2023-07-test"]
