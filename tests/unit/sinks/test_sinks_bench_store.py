"""The KPI bench's store (bench/kpi_store.py) on chdb: the server-side copies of the one
generated chunk are whole, distinct cases with their own events, links, tasks and
escalations, so every count the KPI views make grows with the copies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench.kpi_store import fill_store
from sinks.migrate import migrate
from sinks.sql import ChdbExecutor
from sinks.synthetic import generate

Insert = Callable[[str, str, Mapping[str, Any]], None]


def _one(ex: ChdbExecutor, sql: str) -> int:
    return int(next(iter(ex.query(sql)[0].values())))


def _fill(ex: ChdbExecutor, db: str, insert: Insert, n_cases: int) -> int:
    def write(tables: dict[str, dict[str, Any]]) -> None:
        for table, columns in tables.items():
            insert(db, table, columns)

    return fill_store(ex, db, write, n_cases, days=21)


def test_copies_are_distinct_cases_with_their_own_rows(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    ex, db = chdb_executor, migrated_db
    assert _fill(ex, db, insert, 300) == 300  # two copies of 150 cases
    cases = _one(ex, f"SELECT uniqExact(case_id) FROM {db}.cases FINAL")
    assert cases == 300
    events = _one(ex, f"SELECT count() FROM {db}.events FINAL")
    assert _one(ex, f"SELECT uniqExact(source_ref) FROM {db}.events FINAL") == events
    # every link, dispatch, task and escalation belongs to a case of the store, and a
    # task's or an escalation's id spells its own case's
    for table in ("links", "dispatches", "verify_tasks", "escalations"):
        orphans = _one(
            ex,
            f"SELECT count() FROM {db}.{table} FINAL "
            f"WHERE case_id NOT IN (SELECT case_id FROM {db}.cases)",
        )
        assert orphans == 0, table
    assert (
        _one(
            ex,
            f"SELECT countIf(task_id != concat(toString(case_id), ':v', toString(rework_round))) "
            f"FROM {db}.verify_tasks",
        )
        == 0
    )
    assert (
        _one(
            ex,
            f"SELECT countIf(escalation_id != concat(toString(case_id), ':', level)) "
            f"FROM {db}.escalations",
        )
        == 0
    )
    # a recurrence names a case of its own copy
    assert (
        _one(
            ex,
            f"SELECT count() FROM {db}.cases WHERE recurrence_of != 0 "
            f"AND recurrence_of NOT IN (SELECT case_id FROM {db}.cases)",
        )
        == 0
    )


def test_the_kpis_of_two_copies_are_twice_those_of_the_chunk(
    chdb_executor: ChdbExecutor, chdb_db: str, insert: Insert
) -> None:
    ex = chdb_executor
    counts = {}
    for name in ("chunk", "copies"):
        db = f"{chdb_db}_{name}"
        migrate(ex, db, "Asia/Shanghai")
        try:
            if name == "chunk":
                for table, columns in generate(150, seed=1, days=21).tables.items():
                    insert(db, table, columns)
            else:
                assert _fill(ex, db, insert, 300) == 300
            counts[name] = ex.query(
                f"SELECT sum(n_opened) AS o, sum(n_due) AS d, sum(n_closed) AS c, "
                f"sum(n_recurrences) AS r FROM {db}.kpi_case_counts WHERE period = 'week'"
            )[0]
        finally:
            ex.execute(f"DROP DATABASE IF EXISTS {db}")
    assert int(counts["chunk"]["o"]) > 0
    assert {k: 2 * int(v) for k, v in counts["chunk"].items()} == {
        k: int(v) for k, v in counts["copies"].items()
    }
