"""The KPI rollups on the real ClickHouse server (18.16): written through the sink, refreshed
by ``citystream db rollup``, replayed through the sink: every view answers as the Python
reference and as before the refresh, and the BI user reads the rollups."""

from __future__ import annotations

import argparse
import time
from typing import Any

import pytest
from clickhouse_driver import Client

from sinks import reference
from sinks.clickhouse import ClickHouseSink
from sinks.kpi.queries import BI_VIEWS
from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from sinks.synthetic import Dataset, generate
from streams.cli import db as db_cli
from streams.settings import Settings
from tests.kpi_rows import assert_rows_equal

pytestmark = pytest.mark.integration
DURATION_KEY = ("period", "period_start", "department")


def _write(settings: Settings, database: str, data: Dataset, batch_rows: int) -> None:
    sink = ClickHouseSink(settings.replace(sink_batch_rows=batch_rows), database=database)
    try:
        for offset, (table, columns) in enumerate(data.tables.items()):
            sink.add(table, 0, offset, columns)
        sink.drain(timeout_s=60)
    finally:
        sink.close()


def _rounded(value: Any) -> Any:
    # kpi_hotspots' mean positions are sums divided: the last bits follow the adding order
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _snapshot(ex: DriverExecutor, database: str) -> dict[str, list[str]]:
    return {
        view: sorted(
            repr(sorted((k, _rounded(v)) for k, v in r.items()))
            for r in ex.query(f"SELECT * FROM {database}.{view}")
        )
        for view in BI_VIEWS
    }


def _rollup(settings: Settings, database: str) -> int:
    args = argparse.Namespace(action="rollup", database=database, every=0.0)
    return db_cli.run(settings, args)


def _stale(ex: DriverExecutor, database: str) -> int:
    return int(ex.query(f"SELECT count() AS n FROM {database}.rollup_stale")[0]["n"])


def test_rollups_through_the_sink_refresh_and_a_replay(
    settings: Settings, clickhouse: Client, clickhouse_bi: Client, ch_database: str
) -> None:
    ex = DriverExecutor(clickhouse)
    tz = settings.calendar.timezone
    migrate(ex, ch_database, tz)
    data = generate(500, seed=1207)
    _write(settings, ch_database, data, batch_rows=5000)
    live = _snapshot(ex, ch_database)
    assert _stale(ex, ch_database) > 0

    assert _rollup(settings, ch_database) == 0
    assert _stale(ex, ch_database) == 0
    assert _snapshot(ex, ch_database) == live
    units = reference.case_unit_kpis(data.tables, tz, int(time.time() * 1000))
    assert_rows_equal(ex.query(f"SELECT * FROM {ch_database}.kpi_units"), units)
    spots = ex.query(f"SELECT * FROM {ch_database}.kpi_hotspots")
    assert_rows_equal(
        spots, reference.hotspots(data.tables, tz), ("period", "period_start", "grid_code")
    )
    durations = ex.query(f"SELECT * FROM {ch_database}.kpi_durations")
    assert_rows_equal(durations, reference.durations(data.tables, tz), DURATION_KEY)
    bi = clickhouse_bi.execute(
        f"SELECT sum(opened) FROM {ch_database}.kpi_units "
        "WHERE level = 'district' AND period = 'month'"
    )
    assert bi == [
        (sum(r["opened"] for k, r in units.items() if k[0] == "month" and k[2] == "district"),)
    ]

    _write(settings, ch_database, data, batch_rows=777)  # replayed, other batch boundaries
    assert _stale(ex, ch_database) > 0
    assert _snapshot(ex, ch_database) == live
    durations = ex.query(f"SELECT * FROM {ch_database}.kpi_durations")  # stale: live rows
    assert_rows_equal(durations, reference.durations(data.tables, tz), DURATION_KEY)
    assert _rollup(settings, ch_database) == 0
    assert _stale(ex, ch_database) == 0
    assert _snapshot(ex, ch_database) == live
    ex.execute(f"OPTIMIZE TABLE {ch_database}.cases FINAL")  # a merge keeps the months fresh
    assert _stale(ex, ch_database) == 0
    assert _snapshot(ex, ch_database) == live
