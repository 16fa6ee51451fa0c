"""The refresh job of the KPI rollups (migration 0015, docs/bi/rollups.md).

A rollup family (``cases``: kpi_case_counts and kpi_hotspots, with the views built on them;
``intake``: kpi_intake; ``escalations``: kpi_escalations; ``minutes``: intake_minute;
``verification``: kpi_verification; ``facts``: case_facts, the deduplicated cases the
report queries and kpi_recurrences read; ``durations``: kpi_durations' result rows per
period, stored under the month partition the period starts in; ``reports``:
report_lateness; ``patrols``: kpi_patrol_coverage and kpi_patrol_grids) is stored per month
partition of its source tables, in one table or more (``escalations``: kpi_escalations'
counts and the deduplicated escalations the overdue list reads, both of the same partitions
and refreshed together under one generation).
:func:`refresh` computes the rows of every *stale* month (one whose partitions changed
since its last refresh: an insert, a replay, a mutation) from the deduplicated raw rows,
stores them under a new generation, records the partitions' signatures they were computed
from, and drops the superseded generations. The views read a month from the rollup only
while its signature is unchanged, so a refresh never changes what a view answers, only how
fast: run it as often as the dashboards need (``citystream db rollup --every``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sinks.sql import Executor, SqlError, check_identifier, insertable_columns

__all__ = ["FAMILIES", "RefreshResult", "refresh", "refresh_all"]

# family -> its (table the rows are stored in, view computing the stale months' rows) pairs
FAMILIES: dict[str, tuple[tuple[str, str], ...]] = {
    "cases": (("rollup_case_rows", "case_rollup_live"),),
    "intake": (("rollup_intake_rows", "intake_rollup_live"),),
    "escalations": (
        ("rollup_escalation_rows", "escalation_rollup_live"),
        ("rollup_level_rows", "level_rollup_live"),  # migration 0019: the overdue list
    ),
    "minutes": (("rollup_minute_rows", "minute_rollup_live"),),
    "verification": (("rollup_verification_rows", "verification_rollup_live"),),
    "facts": (("rollup_fact_rows", "fact_rollup_live"),),
    "durations": (("rollup_duration_rows", "duration_rollup_live"),),
    "reports": (("rollup_report_rows", "report_rollup_live"),),
    "patrols": (("rollup_patrol_rows", "patrol_rollup_live"),),
}

_PARTITION = re.compile(r"^\((\d+),\s*(\d+)\)$")


@dataclass(frozen=True)
class RefreshResult:
    family: str
    generation: int
    months: tuple[int, ...]  # the months refreshed (empty: all were fresh)
    dropped: int  # superseded (month, generation) partitions dropped


def _next_generation(ex: Executor, database: str) -> int:
    """Above every recorded generation, and growing with the clock between runs."""
    rows = ex.query(f"SELECT max(generation) AS g FROM {database}.rollup_generations")
    recorded = int(rows[0]["g"]) if rows else 0
    return max(recorded + 1, time.time_ns() // 1000)


def _stale(ex: Executor, database: str, family: str) -> dict[int, str]:
    """The stale months and their partitions' signatures, read before their rows are."""
    rows = ex.query(
        f"SELECT month, signature FROM {database}.rollup_signatures "
        f"WHERE family = '{family}' AND month IN ("
        f"SELECT month FROM {database}.rollup_stale WHERE family = '{family}')"
    )
    return {int(r["month"]): str(r["signature"]) for r in rows}


def _store(ex: Executor, database: str, family: str, generation: int) -> None:
    for table, live in FAMILIES[family]:
        names = [n for n in insertable_columns(ex, database, table) if n != "generation"]
        columns = ", ".join(names)
        ex.execute(
            f"INSERT INTO {database}.{table} (generation, {columns}) "
            f"SELECT toUInt64({generation}), {columns} FROM {database}.{live}"
        )


def _record(
    ex: Executor, database: str, family: str, generation: int, signatures: dict[int, str]
) -> None:
    for signature in signatures.values():
        if "'" in signature or "\\" in signature:
            raise SqlError(f"unexpected partition signature {signature!r}")
    values = ", ".join(
        f"(toUInt32({month}), '{signature}')" for month, signature in sorted(signatures.items())
    )
    # INSERT ... SELECT, not VALUES: over the native protocol inline VALUES wait for a
    # data block from the client, which an Executor does not send
    ex.execute(
        f"INSERT INTO {database}.rollup_generations (family, month, generation, signature) "
        f"SELECT '{family}', tupleElement(r, 1), toUInt64({generation}), tupleElement(r, 2) "
        f"FROM system.one ARRAY JOIN [{values}] AS r"
    )


def _drop_superseded(ex: Executor, database: str, family: str, generation: int) -> int:
    """Drop the partitions of generations this run (or a later one) replaced; a concurrent
    run's newer generation is left alone."""
    latest = {
        int(r["month"]): int(r["g"])
        for r in ex.query(
            f"SELECT month, max(generation) AS g FROM {database}.rollup_generations "
            f"WHERE family = '{family}' GROUP BY month"
        )
    }
    return sum(
        _drop_older(ex, database, table, generation, latest) for table, _ in FAMILIES[family]
    )


def _drop_older(
    ex: Executor, database: str, table: str, generation: int, latest: dict[int, int]
) -> int:
    parts = ex.query(
        "SELECT DISTINCT partition_id, partition FROM system.parts "
        f"WHERE database = '{database}' AND table = '{table}' AND active"
    )
    dropped = 0
    for part in parts:
        match = _PARTITION.match(str(part["partition"]))
        if match is None:
            raise SqlError(f"{table}: unexpected partition {part['partition']!r}")
        month, gen = int(match.group(1)), int(match.group(2))
        if gen <= generation and gen != latest.get(month):
            ex.execute(f"ALTER TABLE {database}.{table} DROP PARTITION ID '{part['partition_id']}'")
            dropped += 1
    return dropped


def refresh(ex: Executor, database: str, family: str = "cases") -> RefreshResult:
    """Bring the rollup of ``family`` up to date with the stored rows."""
    check_identifier(database)
    if family not in FAMILIES:
        raise SqlError(f"unknown rollup family {family!r}; families: {', '.join(FAMILIES)}")
    signatures = _stale(ex, database, family)
    generation = _next_generation(ex, database)
    if signatures:
        _store(ex, database, family, generation)
        _record(ex, database, family, generation, signatures)
    dropped = _drop_superseded(ex, database, family, generation)
    return RefreshResult(family, generation, tuple(sorted(signatures)), dropped)


def refresh_all(ex: Executor, database: str) -> dict[str, RefreshResult]:
    """:func:`refresh` every family."""
    return {family: refresh(ex, database, family) for family in FAMILIES}
