"""The compose server's BI profile (deploy/clickhouse/initdb/01-bi-user.sh): valid SQL for a
current ClickHouse (chdb parses it) that lets the BI tools' settings through and nothing
else. The local 18.16 server's profile is proven on the server itself
(tests/integration/test_bi_access.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sinks.sql import ChdbExecutor
from tests.bi_tools import TOOL_SETTINGS

ROOT = Path(__file__).resolve().parents[3]
INITDB = ROOT / "deploy" / "clickhouse" / "initdb" / "01-bi-user.sh"
ENV = {
    "CITYSTREAM_CLICKHOUSE_DATABASE": "citystream",
    "CITYSTREAM_CLICKHOUSE_BI_USER": "bi",
    "CITYSTREAM_CLICKHOUSE_BI_PASSWORD": "pw",
}


def _statements() -> list[str]:
    text = INITDB.read_text(encoding="utf-8")
    body = text.split("<<SQL\n", 1)[1].split("\nSQL\n", 1)[0]
    body = re.sub(r"\$\{(\w+)\}", lambda m: ENV[m.group(1)], body)
    assert "$" not in body
    return [s.strip() for s in body.split(";") if s.strip()]


def _profile() -> str:
    (profile,) = [s for s in _statements() if s.startswith("CREATE SETTINGS PROFILE")]
    return profile


def test_every_statement_parses_on_a_current_clickhouse(chdb_executor: ChdbExecutor) -> None:
    for sql in _statements():
        (row,) = chdb_executor.query("EXPLAIN AST " + sql)[:1]
        assert "Query" in str(row["explain"]), (sql, row)
    with pytest.raises(Exception, match="Syntax error"):
        chdb_executor.query("EXPLAIN AST " + _profile().replace("SETTINGS", "SETTING", 1))


def test_profile_is_readonly_and_lets_the_tools_settings_change() -> None:
    profile = _profile()
    assert re.search(r"\breadonly = 1\b", profile)
    changeable = set(re.findall(r"(\w+)[^,]*CHANGEABLE_IN_READONLY", profile))
    assert set(TOOL_SETTINGS) <= changeable
    assert "readonly" not in changeable and "allow_ddl" not in changeable


def test_bi_user_gets_the_profile_and_select_only() -> None:
    statements = _statements()
    grants = [s for s in statements if s.startswith("GRANT")]
    assert grants == ["GRANT SELECT ON citystream.* TO bi"]
    users = [s for s in statements if s.startswith(("CREATE USER", "ALTER USER"))]
    assert users and all("SETTINGS PROFILE 'bi_readonly'" in s for s in users)
