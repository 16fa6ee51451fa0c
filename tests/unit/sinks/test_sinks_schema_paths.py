"""The two schema paths (docs/schema.md): which one a database gets, that it keeps it, that
the modern one really stores what it promises (read back from system.columns and
system.tables of chdb), and that an overlay cannot make the paths hold different data."""

from __future__ import annotations

import dataclasses
import re
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sinks.migrate import (
    COMPAT,
    MODERN,
    MODERN_MIN_VERSION,
    Migration,
    MigrationError,
    choose_path,
    load_migrations,
    migrate,
    migration_status,
    schema_path,
)
from sinks.overlay import OverlayError, apply_overlay
from sinks.retention import RETAINED, Retention, apply_retention, retention_days
from sinks.sql import ChdbExecutor
from sinks.tables import TABLES
from streams.settings import ClickHouseSettings, SchemaPath, Settings, SettingsError

TZ = "Asia/Shanghai"
RETENTION = Retention(patrol_track_days=30, dead_letter_payload_days=7)
# the tables of facts: every one is partitioned by a month of one of its times
FACT_TABLES = (
    "events",
    "cases",
    "links",
    "case_stages",
    "dispatches",
    "dead_letters",
    "patrol_tracks",
    "patrol_visits",
    "verify_tasks",
    "request_updates",
    "patrol_sessions",
    "patrol_segment_visits",
    "escalations",
    "api_audit",
)
CATEGORICAL = {
    "events": ("department", "grid_code"),
    "cases": ("category_key", "department", "grid_code", "community", "street", "status"),
    "case_stages": ("action", "from_status", "to_status", "department", "result"),
    "dispatches": ("category_key", "department", "deadline_unit"),
    "dead_letters": ("source", "reason", "topic"),
    "patrol_tracks": ("role", "department", "grid_code"),
    "escalations": ("level", "department", "category_key", "grid_code", "street"),
    "rollup_case_rows": ("r_period", "department", "street", "community", "grid_code"),
}


def test_a_new_database_gets_the_best_path_the_server_has() -> None:
    assert choose_path((18, 16, 1), None) == COMPAT
    assert choose_path(MODERN_MIN_VERSION, None) == MODERN
    assert choose_path((25, 8, 2, 1), None) == MODERN
    assert choose_path((25, 8), None, "compat") == COMPAT


def test_a_database_keeps_its_path_and_a_mismatch_is_refused() -> None:
    assert choose_path((25, 8), COMPAT) == COMPAT  # an upgraded server: stays compat
    with pytest.raises(MigrationError, match="keeps its path"):
        choose_path((25, 8), COMPAT, "modern")
    with pytest.raises(MigrationError, match="keeps its path"):
        choose_path((25, 8), MODERN, "compat")
    too_old = r"needs ClickHouse 22\.3 or later, the server is 18\.16\.1"
    with pytest.raises(MigrationError, match=too_old):
        choose_path((18, 16, 1), MODERN)  # a downgraded server
    with pytest.raises(MigrationError, match="needs ClickHouse"):
        choose_path((18, 16, 1), None, "modern")
    with pytest.raises(MigrationError, match="unknown schema path"):
        choose_path((25, 8), None, "fast")


def test_the_paths_are_the_settings_values() -> None:
    assert ClickHouseSettings().schema == "auto"
    assert set(SchemaPath.__args__) == {"auto", COMPAT, MODERN}
    settings = Settings().replace(clickhouse_schema="compat", clickhouse_patrol_track_days=3)
    assert Retention.of(settings.clickhouse) == Retention(3, 90)
    with pytest.raises(SettingsError, match="CLICKHOUSE_PATROL_TRACK_DAYS"):
        Settings().replace(clickhouse_patrol_track_days=0)


def test_chdb_builds_the_modern_path_and_records_it(
    chdb_executor: ChdbExecutor, chdb_db: str
) -> None:
    assert schema_path(chdb_executor, chdb_db) is None
    migrate(chdb_executor, chdb_db, TZ)
    assert schema_path(chdb_executor, chdb_db) == MODERN
    rows = chdb_executor.query(f"SELECT DISTINCT path FROM {chdb_db}.schema_migrations")
    assert rows == [{"path": MODERN}]
    assert {s.state for s in migration_status(chdb_executor, chdb_db)} == {"applied"}
    with pytest.raises(MigrationError, match="keeps its path"):
        migrate(chdb_executor, chdb_db, TZ, path=COMPAT)


def test_a_database_from_before_the_paths_is_compat_and_stays_so(
    chdb_executor: ChdbExecutor, chdb_db: str
) -> None:
    migrations = load_migrations()
    migrate(chdb_executor, chdb_db, TZ, migrations[:3], path=COMPAT)
    # as the bookkeeping was before: no path column
    chdb_executor.execute(f"ALTER TABLE {chdb_db}.schema_migrations DROP COLUMN path")
    assert schema_path(chdb_executor, chdb_db) == COMPAT
    applied = migrate(chdb_executor, chdb_db, TZ)  # the server could run modern: stays compat
    assert [m.version for m in applied] == [m.version for m in migrations[3:]]
    assert schema_path(chdb_executor, chdb_db) == COMPAT
    types = _column_types(chdb_executor, chdb_db, "cases")
    assert types["department"] == "String"


def _column_types(ex: ChdbExecutor, database: str, table: str) -> dict[str, str]:
    rows = ex.query(
        f"SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{table}'"
    )
    return {str(r["name"]): str(r["type"]) for r in rows}


@pytest.fixture
def modern_db(chdb_executor: ChdbExecutor, chdb_db: str) -> str:
    migrate(chdb_executor, chdb_db, TZ, path=MODERN, retention=RETENTION)
    return chdb_db


def test_modern_categorical_columns_are_low_cardinality(
    chdb_executor: ChdbExecutor, modern_db: str
) -> None:
    for table, columns in CATEGORICAL.items():
        types = _column_types(chdb_executor, modern_db, table)
        for column in columns:
            assert types[column] == "LowCardinality(String)", (table, column)


def test_modern_time_and_id_columns_have_codecs(
    chdb_executor: ChdbExecutor, modern_db: str
) -> None:
    rows = chdb_executor.query(
        "SELECT table, name, type, compression_codec FROM system.columns "
        f"WHERE database = '{modern_db}' AND table IN ({_quoted(FACT_TABLES)})"
    )
    ids = {"event_id", "case_id", "dl_id", "device_hash", "recurrence_of"}
    checked = 0
    for r in rows:
        if r["type"] == "DateTime":
            assert r["compression_codec"].startswith("CODEC(Delta"), r
            checked += 1
        elif r["name"] in ids:
            assert "ZSTD" in r["compression_codec"], r
            checked += 1
    assert checked > 40


def _quoted(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def test_modern_fact_tables_are_partitioned_by_time(
    chdb_executor: ChdbExecutor, modern_db: str
) -> None:
    rows = chdb_executor.query(
        "SELECT name, partition_key, sorting_key FROM system.tables "
        f"WHERE database = '{modern_db}' AND name IN ({_quoted(FACT_TABLES)})"
    )
    keys = {str(r["name"]): (str(r["partition_key"]), str(r["sorting_key"])) for r in rows}
    assert set(keys) == set(FACT_TABLES)
    for table, (partition, _) in keys.items():
        assert re.fullmatch(r"toYYYYMM\(\w+\)", partition), (table, partition)
    assert keys["dead_letters"][0] == "toYYYYMM(received_at)"
    # the KPI scans are bounded by these times: they lead the sort keys
    assert keys["events"][1] == "event_time, event_id"
    assert keys["links"][1] == "event_time, event_id"
    assert keys["cases"][1] == "opened_at, case_id"
    assert keys["dispatches"][1] == "opened_at, case_id"


def test_modern_ttls_follow_the_retention_settings(
    chdb_executor: ChdbExecutor, modern_db: str
) -> None:
    tracks, letters = RETAINED
    assert retention_days(chdb_executor, modern_db, tracks) == 30
    assert retention_days(chdb_executor, modern_db, letters) == 7
    # unchanged settings: nothing altered; changed: only the changed table
    assert apply_retention(chdb_executor, modern_db, RETENTION) == []
    longer = dataclasses.replace(RETENTION, dead_letter_payload_days=14)
    assert apply_retention(chdb_executor, modern_db, longer) == ["dead_letters"]
    assert retention_days(chdb_executor, modern_db, letters) == 14
    assert retention_days(chdb_executor, modern_db, tracks) == 30


def test_expired_payloads_and_pings_go_and_the_dead_letter_row_stays(
    chdb_executor: ChdbExecutor, modern_db: str
) -> None:
    old, new = "2020-01-01 00:00:00", "2099-01-01 00:00:00"
    for at in (old, new):
        chdb_executor.execute(
            f"INSERT INTO {modern_db}.dead_letters SELECT cityHash64('{at}'), 'hotline', "
            f"'bad_json', 'm', 'payload', 'raw.hotline', 0, 1, toDateTime('{at}', 'UTC')"
        )
        chdb_executor.execute(
            f"INSERT INTO {modern_db}.patrol_tracks SELECT 'i1', 'inspector', 'd', "
            f"toDateTime('{at}', 'UTC'), 0, 0, 'g'"
        )
    chdb_executor.execute(f"OPTIMIZE TABLE {modern_db}.dead_letters FINAL")
    chdb_executor.execute(f"OPTIMIZE TABLE {modern_db}.patrol_tracks FINAL")
    letters = chdb_executor.query(
        f"SELECT toYear(received_at) AS y, original FROM {modern_db}.dead_letters ORDER BY y"
    )
    assert letters == [{"y": 2020, "original": ""}, {"y": 2099, "original": "payload"}]
    pings = chdb_executor.query(f"SELECT toYear(ts) AS y FROM {modern_db}.patrol_tracks")
    assert pings == [{"y": 2099}]


def test_every_overlay_keeps_the_tables_the_writer_knows() -> None:
    overlaid = [m for m in load_migrations() if m.modern is not None]
    assert [m.version for m in overlaid] == [1, 4, 5, 7, 8, 10, 11, 15, 19, 21]
    assert set(CATEGORICAL) <= set(TABLES)


def _base() -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS {db}.t (\n    a UInt64,\n    s String\n) ENGINE = X",
        "CREATE VIEW IF NOT EXISTS {db}.v AS SELECT a FROM {db}.t",
        "ALTER TABLE {db}.t ADD COLUMN c String",
    ]


@pytest.mark.parametrize(
    ("overlay", "error"),
    [
        ("CREATE TABLE IF NOT EXISTS {db}.t (\n    a UInt64,\n    s UInt8\n) ENGINE = Y", "has"),
        ("CREATE TABLE IF NOT EXISTS {db}.t (\n    s String,\n    a UInt64\n) ENGINE = Y", "has"),
        ("CREATE TABLE IF NOT EXISTS {db}.u (\n    a UInt64\n) ENGINE = Y", "does not"),
        ("ALTER TABLE {db}.t ADD COLUMN d String", "does not"),
        ("CREATE VIEW IF NOT EXISTS {db}.v AS SELECT 1", "only CREATE TABLE"),
    ],
)
def test_an_overlay_cannot_change_what_the_tables_hold(overlay: str, error: str) -> None:
    with pytest.raises(OverlayError, match=error):
        apply_overlay(_base(), [overlay], "test")


def test_an_overlay_replaces_its_statements_in_place() -> None:
    table = (
        "CREATE TABLE IF NOT EXISTS {db}.t (\n    a UInt64 CODEC(ZSTD(1)),\n"
        "    s LowCardinality(String)\n) ENGINE = Y ORDER BY a"
    )
    column = "ALTER TABLE {db}.t ADD COLUMN c LowCardinality(String)"
    base = _base()
    assert apply_overlay(base, [column, table], "test") == [table, base[1], column]


def test_a_migration_without_overlay_is_the_same_on_both_paths() -> None:
    plain = Migration(99, "plain", "SELECT 1;\n")
    assert plain.checksum_for(MODERN) == plain.checksum_for(COMPAT) == plain.checksum
    assert plain.statements("d", TZ, MODERN) == plain.statements("d", TZ, COMPAT)
    overlaid = next(m for m in load_migrations() if m.modern is not None)
    assert overlaid.checksum_for(MODERN) != overlaid.checksum_for(COMPAT)


def test_the_driver_writes_the_sinks_columns_into_low_cardinality() -> None:
    """clickhouse-driver in numpy mode (the sink's) encodes our object arrays as
    LowCardinality(String), as a server would read them: written by the driver's numpy
    column, read back by its plain one, through a socket pair."""
    from clickhouse_driver.bufferedreader import BufferedSocketReader
    from clickhouse_driver.bufferedwriter import (
        BufferedSocketWriter,
    )
    from clickhouse_driver.columns.service import (
        get_column_by_spec,
    )

    values = np.array(["城管", "", "水务", "城管"] * 300, dtype=object)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        writer = BufferedSocketWriter(ours, 1 << 16)
        column = get_column_by_spec(
            "LowCardinality(String)", {"context": _context({"use_numpy": True})}
        )
        column.write_state_prefix(writer)
        column.write_data(values, writer)
        writer.flush()
        reader = BufferedSocketReader(theirs, 1 << 16)
        column = get_column_by_spec("LowCardinality(String)", {"context": _context({})})
        column.read_state_prefix(reader)
        assert list(column.read_data(len(values), reader)) == list(values)


def _context(settings: dict[str, Any]) -> Any:
    """The driver's column context as a client with these settings has it (no connection)."""
    from clickhouse_driver import Client
    from clickhouse_driver.context import Context

    context = Context()
    context.client_settings = Client("127.0.0.1", settings=settings).client_settings
    return context


def test_overlays_are_checked_when_the_migrations_are_loaded(tmp_path: Path) -> None:
    base = "CREATE TABLE IF NOT EXISTS {db}.t (\n    a UInt64\n) ENGINE = Memory;\n"
    (tmp_path / "0001_t.sql").write_text(base)
    (tmp_path / "modern").mkdir()
    overlay = tmp_path / "modern" / "0001_t.sql"
    overlay.write_text(base.replace("a UInt64", "a UInt64 CODEC(ZSTD(1))"))
    assert load_migrations(tmp_path)[0].modern == overlay.read_text()
    overlay.write_text(base.replace("a UInt64", "b UInt64"))
    with pytest.raises(MigrationError, match="has columns"):
        load_migrations(tmp_path)
    overlay.unlink()
    (tmp_path / "modern" / "0002_t.sql").write_text(base)
    with pytest.raises(MigrationError, match="no migration of that name"):
        load_migrations(tmp_path)
