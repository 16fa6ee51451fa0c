"""SQL text helpers and the two ways citystream runs SQL: the server and in-process chdb.

Migration and KPI files are templates with two placeholders, ``{db}`` (the database) and
``{tz}`` (the district's time zone). :func:`render` fills them after checking that the
values are plain identifiers, so a template can never be turned into other SQL.
:class:`DriverExecutor` (clickhouse-driver, the real server) and :class:`ChdbExecutor`
(chdb, a current ClickHouse engine in-process) run the same rendered text, which is how the
tests prove every statement works on 18.16 and on a current release.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any, Protocol

__all__ = [
    "ChdbExecutor",
    "DriverExecutor",
    "Executor",
    "SqlError",
    "check_identifier",
    "insertable_columns",
    "render",
    "split_statements",
    "string_literal",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIMEZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]*$")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)


class SqlError(ValueError):
    """A template, a placeholder value or a statement is not usable."""


def check_identifier(name: str, what: str = "database name") -> str:
    if not _IDENTIFIER.match(name):
        raise SqlError(f"{what} {name!r} must match {_IDENTIFIER.pattern}")
    return name


def string_literal(text: str) -> str:
    """``text`` as a ClickHouse string literal (quotes and backslashes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(template: str, *, database: str, tz: str) -> str:
    """The template with ``{db}`` and ``{tz}`` replaced (both validated)."""
    check_identifier(database)
    if not _TIMEZONE.match(tz):
        raise SqlError(f"time zone {tz!r} is not an IANA zone name")
    return template.replace("{db}", database).replace("{tz}", tz)


def _strip_comment_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def split_statements(text: str) -> list[str]:
    """Statements of a file: ``;`` at the end of a line ends one; ``--`` lines are dropped.

    (Semicolons inside string literals must therefore not end a line.)
    """
    body = _strip_comment_lines(text)
    parts = [part.strip() for part in _STATEMENT_END.split(body)]
    return [part for part in parts if part]


class Executor(Protocol):
    """Runs one SQL statement; ``query`` returns rows as dicts keyed by column name."""

    def execute(self, sql: str) -> None: ...

    def query(self, sql: str) -> list[dict[str, Any]]: ...


def insertable_columns(ex: Executor, database: str, table: str) -> list[str]:
    """The columns of ``table`` an INSERT names, in table order (not MATERIALIZED or ALIAS:
    the server computes those)."""
    return [
        str(r["name"])
        for r in ex.query(f"DESCRIBE TABLE {database}.{table}")
        if str(r.get("default_type", "")) not in ("MATERIALIZED", "ALIAS")
    ]


class DriverExecutor:
    """SQL through a clickhouse-driver ``Client`` (the real server)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def execute(self, sql: str) -> None:
        self.client.execute(sql)

    def query(self, sql: str) -> list[dict[str, Any]]:
        rows, columns = self.client.execute(sql, with_column_types=True)
        names = [name for name, _ in columns]
        return [dict(zip(names, row, strict=True)) for row in rows]


def _convert(value: Any, type_name: str) -> Any:
    """A JSON value from chdb as the Python value clickhouse-driver would return."""
    if value is None:
        return None
    base = type_name
    if base.startswith("Nullable("):
        base = base[len("Nullable(") : -1]
    if base.startswith("Array("):
        inner = base[len("Array(") : -1]
        return [_convert(item, inner) for item in value]
    if base in ("UInt64", "Int64", "UInt128", "Int128"):
        return int(value)
    if base.startswith(("Float", "Decimal")):
        return float(value)
    if base == "Date":
        return date.fromisoformat(value)
    if base.startswith("DateTime"):
        return datetime.fromisoformat(value).replace(tzinfo=UTC).replace(tzinfo=None)
    return value


class ChdbExecutor:
    """SQL through an in-process chdb session (a current ClickHouse engine).

    ``path`` is the session's data folder; chdb allows one live session per process, so
    callers share one executor. DateTime values are read in UTC, like the local server.
    """

    def __init__(self, path: str) -> None:
        from chdb import session as chdb_session  # optional (test) dependency: lazy

        self._session = chdb_session.Session(path)
        self._session.query("SET session_timezone = 'UTC'")

    def execute(self, sql: str) -> None:
        self._session.query(sql)

    def query(self, sql: str) -> list[dict[str, Any]]:
        result = self._session.query(sql, "JSON")
        text = result.bytes().decode("utf-8")
        if not text.strip():
            return []
        payload = json.loads(text)
        types = {col["name"]: col["type"] for col in payload["meta"]}
        return [
            {name: _convert(value, types[name]) for name, value in row.items()}
            for row in payload["data"]
        ]

    def close(self) -> None:
        self._session.close()
