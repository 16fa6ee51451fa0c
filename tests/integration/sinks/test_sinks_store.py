"""The store on the real ClickHouse server (18.16): migrations, KPIs, replays, BI rights,
and an outage that loses nothing."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from sinks import reference
from sinks.base import SinkBackpressure
from sinks.clickhouse import ClickHouseSink, make_client
from sinks.kpi.queries import BI_VIEWS
from sinks.migrate import (
    COMPAT,
    MigrationError,
    load_migrations,
    migrate,
    migration_status,
    schema_path,
)
from sinks.sql import DriverExecutor
from sinks.synthetic import Dataset, generate
from sinks.tables import TABLES
from streams.settings import Settings
from tests.kpi_rows import assert_rows_equal

pytestmark = pytest.mark.integration

VIEWS = BI_VIEWS


@pytest.fixture
def store(settings: Settings, clickhouse: Client, ch_database: str) -> DriverExecutor:
    ex = DriverExecutor(clickhouse)
    migrate(ex, ch_database, settings.calendar.timezone)
    return ex


def _write(settings: Settings, database: str, data: Dataset, batch_rows: int = 5000) -> None:
    sink = ClickHouseSink(settings.replace(sink_batch_rows=batch_rows), database=database)
    try:
        for offset, (table, columns) in enumerate(data.tables.items()):
            sink.add(table, 0, offset, columns)
        sink.drain(timeout_s=60)
    finally:
        sink.close()


def _snapshot(ex: DriverExecutor, database: str) -> dict[str, list[str]]:
    return {
        view: sorted(repr(sorted(r.items())) for r in ex.query(f"SELECT * FROM {database}.{view}"))
        for view in VIEWS
    }


def test_migrate_twice_is_a_no_op(
    settings: Settings, store: DriverExecutor, ch_database: str
) -> None:
    assert migrate(store, ch_database, settings.calendar.timezone) == []
    assert {s.state for s in migration_status(store, ch_database)} == {"applied"}
    rows = store.query(f"SELECT count() AS n FROM {ch_database}.schema_migrations")
    assert rows == [{"n": len(load_migrations())}]
    for table, spec in TABLES.items():
        described = store.query(f"DESCRIBE TABLE {ch_database}.{table}")
        assert [(r["name"], r["type"]) for r in described] == [(c.name, c.type) for c in spec]


def test_the_local_server_gets_the_compat_path_and_refuses_the_modern_one(
    settings: Settings, store: DriverExecutor, ch_database: str
) -> None:
    assert schema_path(store, ch_database) == COMPAT
    assert store.query(f"SELECT DISTINCT path FROM {ch_database}.schema_migrations") == [
        {"path": COMPAT}
    ]
    with pytest.raises(MigrationError, match="keeps its path"):
        migrate(store, ch_database, settings.calendar.timezone, path="modern")
    with pytest.raises(MigrationError, match=r"needs ClickHouse 22\.3 or later"):
        migrate(store, f"{ch_database}_new", settings.calendar.timezone, path="modern")


def test_kpis_equal_python_values_and_survive_a_full_replay(
    settings: Settings, store: DriverExecutor, ch_database: str
) -> None:
    data = generate(500, seed=4242)
    _write(settings, ch_database, data)
    tz = settings.calendar.timezone
    units = reference.case_unit_kpis(data.tables, tz, int(time.time() * 1000))
    assert_rows_equal(store.query(f"SELECT * FROM {ch_database}.kpi_units"), units)
    scores = reference.department_scores(units)
    rows = store.query(f"SELECT * FROM {ch_database}.kpi_department_score")
    assert len(rows) == len(scores)
    for r in rows:
        want = scores[(r["period"], r["period_start"], "department", r["department"])]
        assert (r["composite"], r["grade"]) == (pytest.approx(want["composite"]), want["grade"])
    intake = reference.intake(data.tables, tz)
    for r in store.query(f"SELECT * FROM {ch_database}.kpi_intake"):
        want_row: dict[str, Any] = intake[(r["period"], r["period_start"], r["source"])]
        assert {k: r[k] for k in want_row} == pytest.approx(want_row)
    durations = reference.durations(data.tables, tz)
    for r in store.query(f"SELECT * FROM {ch_database}.kpi_durations"):
        want_row = durations[(r["period"], r["period_start"], r["department"])]
        assert {k: r[k] for k in want_row} == pytest.approx(want_row)
    verification = reference.verification(data.tables, tz, int(time.time() * 1000))
    rows = store.query(f"SELECT * FROM {ch_database}.kpi_verification")
    assert len(rows) == len(verification)
    for r in rows:
        want_row = verification[(r["period"], r["period_start"], r["level"], r["unit"])]
        assert {k: r[k] for k in want_row} == pytest.approx(want_row)

    before = _snapshot(store, ch_database)
    _write(settings, ch_database, data, batch_rows=777)  # replay, other batch boundaries
    assert _snapshot(store, ch_database) == before
    store.execute(f"OPTIMIZE TABLE {ch_database}.cases FINAL")  # merged or not: same KPIs
    assert _snapshot(store, ch_database) == before


def test_bi_user_can_read_but_not_write_alter_or_drop(
    store: DriverExecutor, ch_database: str, clickhouse_bi: Client
) -> None:
    assert clickhouse_bi.execute(f"SELECT count() FROM {ch_database}.kpi_units") == [(0,)]
    refused = [
        f"INSERT INTO {ch_database}.patrol_rules (role, min_days_per_week, description, "
        "revision) SELECT 'x', 1, 'y', 9",
        f"ALTER TABLE {ch_database}.cases DELETE WHERE 1",
        f"ALTER TABLE {ch_database}.cases ADD COLUMN evil UInt8",
        f"DROP TABLE {ch_database}.cases",
        f"DROP DATABASE {ch_database}",
    ]
    for sql in refused:
        with pytest.raises(ch_errors.ServerException) as info:
            clickhouse_bi.execute(sql)
        assert info.value.code == 164, sql  # READONLY
    assert store.query(f"SELECT count() AS n FROM {ch_database}.patrol_rules FINAL") == [{"n": 3}]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_outage_mid_stream_loses_nothing(
    settings: Settings, store: DriverExecutor, ch_database: str
) -> None:
    links = generate(300, seed=99).tables["links"]
    n = len(links["event_id"])
    chunks = [{k: v[i : i + 50] for k, v in links.items()} for i in range(0, n, 50)]
    sink = ClickHouseSink(
        settings.replace(sink_batch_rows=100, sink_batch_ms=0),
        database=ch_database,
        max_buffered_rows=300,
        retry_initial_s=0.05,
    )
    live_client = sink.client
    taken = pauses = 0
    try:
        for offset, chunk in enumerate(chunks):
            if offset == 4:  # the server "goes away" mid-stream
                sink.client = make_client(settings, port=_closed_port())
            if offset == 12:  # ... and comes back
                sink.client = live_client
            while True:
                try:
                    sink.add("links", 3, offset, chunk)
                    break
                except SinkBackpressure as exc:  # consumer pauses, offers the rows again
                    assert offset < 12 and sink.buffered_rows <= 300
                    pauses += 1
                    time.sleep(exc.retry_after_s)
                    if offset >= 8:
                        sink.client = live_client
            taken += len(chunk["event_id"])
        sink.drain(timeout_s=30)
    finally:
        sink.close()
    assert taken == n and pauses > 0
    assert sink.committable() == {("links", 3): len(chunks)}
    stored = store.query(f"SELECT count() AS n, uniqExact(event_id) AS u FROM {ch_database}.links")
    assert stored[0]["u"] == n
