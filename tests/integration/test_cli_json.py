"""``--json`` of the commands that read ClickHouse parses, alone on stdout."""

from __future__ import annotations

import orjson
import pytest
from clickhouse_driver import Client

from sinks.migrate import load_migrations
from streams.cli import main
from streams.settings import Settings

pytestmark = pytest.mark.integration


def test_db_status_and_kpi_json(
    settings: Settings, clickhouse: Client, ch_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "status", "--database", ch_database, "--json"]) == 1  # all pending
    pending = orjson.loads(capsys.readouterr().out)
    assert pending["database"] == ch_database
    assert {m["state"] for m in pending["migrations"]} == {"pending"}

    assert main(["db", "migrate", "--database", ch_database, "--json"]) == 0
    applied = orjson.loads(capsys.readouterr().out)
    assert applied["applied"] == [m.version for m in load_migrations()]

    assert main(["db", "status", "--database", ch_database, "--json"]) == 0
    status = orjson.loads(capsys.readouterr().out)
    assert [m["version"] for m in status["migrations"]] == applied["applied"]
    assert all(m["state"] == "applied" and m["applied_at"] for m in status["migrations"])

    assert main(["kpi", "--database", ch_database, "--week", "2026-03-04", "--json"]) == 0
    printed = capsys.readouterr()
    kpi = orjson.loads(printed.out)
    assert kpi["week"] == "2026-03-02"  # the Monday of that week
    assert kpi["departments"] == []  # an empty store
    assert kpi["to"] == "2026-03-08"  # its Sunday
