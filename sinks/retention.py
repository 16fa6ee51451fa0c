"""Retention on the modern schema path: the TTLs of GPS pings and dead-letter payloads.

The days come from the settings (``CITYSTREAM_CLICKHOUSE_PATROL_TRACK_DAYS``,
``CITYSTREAM_CLICKHOUSE_DEAD_LETTER_PAYLOAD_DAYS``), not from a migration: an operator
changes them without a new migration, and :func:`apply_retention` (run by ``citystream db
migrate`` after the migrations) alters a table only when its TTL differs from the setting,
since a changed TTL rewrites the table's parts. A dead letter's row is kept for ever (its
reason and origin are the record that nothing was lost); only its raw payload (``original``)
expires, to the empty string. The compat path (ClickHouse 18.16) has no TTL at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sinks.sql import Executor, check_identifier
from streams.settings import ClickHouseSettings

__all__ = ["RETAINED", "Retention", "apply_retention", "retention_days"]


@dataclass(frozen=True)
class Retention:
    patrol_track_days: int
    dead_letter_payload_days: int

    @classmethod
    def of(cls, clickhouse: ClickHouseSettings) -> Retention:
        return cls(clickhouse.patrol_track_days, clickhouse.dead_letter_payload_days)


@dataclass(frozen=True)
class _Retained:
    table: str
    column: str | None  # None: whole rows expire; else this column's values do
    time_column: str
    setting: str  # the Retention field giving the days


RETAINED = (
    _Retained("patrol_tracks", None, "ts", "patrol_track_days"),
    _Retained("dead_letters", "original", "received_at", "dead_letter_payload_days"),
)


def _create_query(ex: Executor, database: str, table: str) -> str:
    rows = ex.query(
        "SELECT create_table_query AS q FROM system.tables "
        f"WHERE database = '{database}' AND name = '{table}'"
    )
    if not rows:
        raise LookupError(f"{database}.{table} does not exist: run the migrations first")
    return str(rows[0]["q"])


def retention_days(ex: Executor, database: str, retained: _Retained) -> int | None:
    """The days of the TTL ``retained`` has now in ``database`` (None: no TTL)."""
    query = _create_query(ex, database, retained.table)
    ttl = rf"TTL {retained.time_column} \+ toIntervalDay\((\d+)\)"
    if retained.column is None:
        # the table's TTL follows the engine's keys, after the column list
        match = re.search(rf"\) ENGINE = .*?{ttl}", query, re.S)
    else:
        match = re.search(rf"`{retained.column}` [^`]*?{ttl}", query)
    return None if match is None else int(match.group(1))


def apply_retention(ex: Executor, database: str, retention: Retention) -> list[str]:
    """Set each retained table's TTL to the settings' days; the tables altered."""
    check_identifier(database)
    altered = []
    for retained in RETAINED:
        days = int(getattr(retention, retained.setting))
        if days < 1:
            raise ValueError(f"{retained.setting} must be at least 1 day, got {days}")
        if retention_days(ex, database, retained) == days:
            continue
        ttl = f"TTL {retained.time_column} + INTERVAL {days} DAY"
        target = f"{database}.{retained.table}"
        if retained.column is None:
            ex.execute(f"ALTER TABLE {target} MODIFY {ttl}")
        else:
            ex.execute(f"ALTER TABLE {target} MODIFY COLUMN {retained.column} {ttl}")
        altered.append(retained.table)
    return altered
