"""The KPI bench's store in chdb (issue 15: "under 1 s on the local ClickHouse and on chdb").

The server's store (bench/kpi_store.py) is copied, raw table by raw table, into an
in-process chdb session: chdb reads each table from the server's HTTP interface in the
Native format (its ``url`` table function; the native protocol's ``remote`` would send
chdb's own settings, which the 18.16 server refuses). There the migrations run as on any
current ClickHouse (the modern schema, docs/schema.md) and the rollups are refreshed by
chdb itself; the raw peer is the schema before the rollups over the same rows, as on the
server. Same rows as the server's store: the figures compare engine with engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from sinks.campaigns import CALENDAR_LOADS
from sinks.migrate import Migration, migrate
from sinks.rollups import refresh_all
from sinks.sql import ChdbExecutor, check_identifier, insertable_columns, string_literal
from sinks.tables import tables_of
from streams.settings.concerns import ClickHouseSettings

__all__ = ["build_chdb_stores"]


def _copy_from_server(
    ex: ChdbExecutor, server: ClickHouseSettings, source: str, target: str, table: str
) -> None:
    names = ", ".join(insertable_columns(ex, target, table))
    query = f"SELECT {names} FROM {source}.{table} FORMAT Native"
    url = f"http://{server.host}:{server.http_port}/"
    # url() GETs: the query goes URL-encoded in the query string, the credentials in
    # headers (not in a URL chdb may log)
    ex.execute(
        f"INSERT INTO {target}.{table} ({names}) SELECT {names} FROM url("
        f"{string_literal(url + '?' + urlencode({'query': query}))}, 'Native', "
        f"headers('X-ClickHouse-User' = {string_literal(server.user)}, "
        f"'X-ClickHouse-Key' = {string_literal(server.password)}))"
    )


def build_chdb_stores(
    ex: ChdbExecutor,
    server: ClickHouseSettings,
    source: str,
    target: tuple[str, str],
    tz: str,
    before_rollups: Sequence[Migration],
    raw_building_blocks: dict[str, str],
) -> None:
    """Fill chdb's ``target`` (rollups database, raw database) with the rows of the
    server's store ``source``: every table of the migrations before the rollups, and the
    campaign calendar's commits in the rollups database."""
    if server.secure:
        raise ValueError("the chdb KPI store reads the server over plain HTTP: not with TLS")
    rollups, raw = (check_identifier(name, "database") for name in target)
    migrate(ex, rollups, tz)
    tables = list(tables_of([m.template for m in before_rollups]))
    # and the calendar's commits (migration 0023, after the rollups), which its views read
    for table in (*tables, CALENDAR_LOADS):
        _copy_from_server(ex, server, check_identifier(source, "database"), rollups, table)
    refresh_all(ex, rollups)
    migrate(ex, raw, tz, list(before_rollups))
    for table in tables:
        names = ", ".join(insertable_columns(ex, raw, table))
        ex.execute(f"INSERT INTO {raw}.{table} ({names}) SELECT {names} FROM {rollups}.{table}")
    for name, sql in raw_building_blocks.items():
        ex.execute(f"CREATE VIEW {raw}.{name} AS {sql.format(db=raw)}")
