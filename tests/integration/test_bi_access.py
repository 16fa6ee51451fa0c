"""The BI user with the tools' settings: reads every dashboard query, writes nothing.

Grafana's ClickHouse plugin (through clickhouse-go), Metabase and Tableau set limits such
as ``max_execution_time`` on each query; a ``readonly = 1`` user refuses any setting, so
those tools failed. The local server's BI profile is ``readonly = 2`` (deploy/local), the
compose server's ``readonly = 1`` with those settings CHANGEABLE_IN_READONLY
(deploy/clickhouse/initdb); both must still refuse every write and every DDL.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from streams.settings import Settings
from tests.bi_tools import TOOL_SETTINGS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "monitoring" / "grafana"
READONLY = 164  # ClickHouse's error code for a write or DDL refused in readonly mode


def _http(settings: Settings, database: str, sql: str, **params: str) -> str:
    """One query over HTTP as the BI user, the transport the Grafana data source uses."""
    query = {
        "user": settings.clickhouse.bi_user,
        "password": settings.clickhouse.bi_password,
        "database": database,
        **params,
    }
    url = f"http://{settings.clickhouse.host}:{settings.clickhouse.http_port}/?"
    request = urllib.request.Request(
        url + urllib.parse.urlencode(query), data=sql.encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        return str(r.read().decode())


def _grafana_queries() -> list[tuple[str, str]]:
    """``(title, SQL)`` of every ClickHouse panel and alert, Grafana's time macros filled."""
    found: list[tuple[str, str]] = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            found += [(panel["title"], t["rawSql"]) for t in panel["targets"] if "rawSql" in t]
    alerting = yaml.safe_load(
        (GRAFANA / "provisioning" / "alerting" / "cases-overdue.yml").read_text("utf-8")
    )
    for rule in alerting["groups"][0]["rules"]:
        found += [
            (rule["title"], d["model"]["rawSql"]) for d in rule["data"] if "rawSql" in d["model"]
        ]
    macros = {"$__fromTime": "toDateTime(1735689600)", "$__toTime": "toDateTime(1767225600)"}
    filled = []
    for title, sql in found:
        for macro, value in macros.items():
            sql = sql.replace(macro, value)
        assert not re.search(r"\$__\w+", sql), f"{title}: a macro the test does not fill"
        filled.append((title, sql))
    return filled


@pytest.fixture
def migrated(settings: Settings, clickhouse: Client, ch_database: str) -> str:
    migrate(DriverExecutor(clickhouse), ch_database, settings.calendar.timezone)
    return ch_database


def test_bi_user_runs_queries_with_the_settings_grafana_sends(
    settings: Settings, migrated: str, clickhouse_bi: Client
) -> None:
    db = migrated
    rows = clickhouse_bi.execute(
        f"SELECT count() FROM {db}.patrol_rules FINAL", settings=TOOL_SETTINGS
    )
    assert rows == [(3,)]  # the rules migration 8 seeds
    assert _http(settings, db, "SELECT count() FROM patrol_rules FINAL", **TOOL_SETTINGS) == "3\n"
    queries = _grafana_queries()
    assert len(queries) >= 5
    for title, sql in queries:
        try:
            _http(settings, db, sql + " FORMAT JSON", **TOOL_SETTINGS)
        except urllib.error.HTTPError as exc:
            pytest.fail(f"{title}: {exc.read().decode()[:500]}")


def test_bi_user_limits_apply(settings: Settings, migrated: str) -> None:
    # the limit a tool sets is the one the server enforces (not silently ignored)
    with pytest.raises(urllib.error.HTTPError) as info:
        _http(settings, migrated, "SELECT number FROM system.numbers LIMIT 10", max_result_rows="5")
    assert "Limit for result" in info.value.read().decode()


def _objects(clickhouse: Client, db: str) -> Any:
    return (
        clickhouse.execute(f"SELECT name, engine FROM system.tables WHERE database = '{db}'"),
        clickhouse.execute("SELECT name FROM system.databases"),
        clickhouse.execute(f"SELECT count() FROM {db}.patrol_rules"),
        clickhouse.execute(f"SELECT name, type FROM system.columns WHERE database = '{db}'"),
    )


def test_bi_user_cannot_insert_alter_drop_or_create(
    settings: Settings, migrated: str, clickhouse: Client, clickhouse_bi: Client
) -> None:
    db = migrated
    before = _objects(clickhouse, db)
    refused = [
        f"INSERT INTO {db}.patrol_rules (role, min_days_per_week, description, revision) "
        "SELECT 'x', 1, 'y', 9",
        f"ALTER TABLE {db}.cases DELETE WHERE 1",
        f"ALTER TABLE {db}.cases ADD COLUMN evil UInt8",
        f"ALTER TABLE {db}.cases COMMENT COLUMN status 'evil'",
        f"ALTER TABLE {db}.cases DROP PARTITION 202601",
        f"DROP TABLE {db}.cases",
        f"DROP TABLE {db}.kpi_units",
        f"DROP DATABASE {db}",
        f"TRUNCATE TABLE {db}.patrol_rules",
        f"RENAME TABLE {db}.cases TO {db}.cases_gone",
        f"CREATE TABLE {db}.evil (a UInt8) ENGINE = Memory",
        f"CREATE VIEW {db}.evil_view AS SELECT 1",
        f"CREATE DATABASE {db}_evil",
        f"OPTIMIZE TABLE {db}.cases FINAL",
    ]
    for sql in refused:
        with pytest.raises(ch_errors.ServerException) as info:
            clickhouse_bi.execute(sql, settings=TOOL_SETTINGS)
        assert info.value.code == READONLY, (sql, info.value)
        with pytest.raises(urllib.error.HTTPError) as http_info:
            _http(settings, db, sql, **TOOL_SETTINGS)
        assert f"Code: {READONLY}" in http_info.value.read().decode(), sql
    # nor by lifting the mode itself, per query or per session
    insert = refused[0]
    with pytest.raises(ch_errors.ServerException) as info:
        clickhouse_bi.execute(insert, settings={"readonly": 0})
    assert info.value.code == READONLY
    with pytest.raises(ch_errors.ServerException) as info:
        clickhouse_bi.execute("SET readonly = 0")
    assert info.value.code == READONLY
    with pytest.raises(urllib.error.HTTPError) as http_info:
        _http(settings, db, insert, readonly="0")
    assert f"Code: {READONLY}" in http_info.value.read().decode()
    # readonly = 2 allows a temporary table too: in no database, its own session's only
    clickhouse_bi.execute("CREATE TEMPORARY TABLE scratch (a UInt8)")
    assert _objects(clickhouse, db) == before
