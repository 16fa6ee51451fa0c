"""The campaign calendar loader (sinks.campaigns.write_calendar) on chdb: both tables with
one revision, then its commit (migrations 0022, 0023); a load that stops before its commit
leaves the previous calendar to the views until the next load writes both again and
commits; an emptied file is committed empty."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sinks.campaigns import (
    CALENDAR_LOADS,
    CALENDAR_TABLES,
    CALENDAR_WRITES,
    Row,
    campaign_rows,
    scope_rows,
    write_calendar,
)
from sinks.sql import ChdbExecutor, string_literal
from sinks.tables import TABLES, rows_to_columns
from streams.reference.campaigns import CampaignTable
from tests.campaign_cases import CALENDAR, G1, campaign_views, check_hand_made, hand_cases

Insert = Callable[[str, str, Mapping[str, Any]], None]


class _Crash(RuntimeError):
    """The loader's process died here."""


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, date):
        return string_literal(value.isoformat())
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


class ChdbClient:
    """A clickhouse-driver ``Client`` as the loader uses it, on chdb: a SELECT gives tuples,
    an INSERT takes its rows as ``params`` (rendered as VALUES here). ``crash_on``: the
    table whose INSERT fails, as if the loader died before writing it."""

    def __init__(self, ex: ChdbExecutor, crash_on: str | None = None) -> None:
        self.ex, self.crash_on, self.inserts = ex, crash_on, list[tuple[str, int]]()

    def execute(self, query: str, params: Any = None) -> Any:
        if not query.startswith("INSERT"):
            return [tuple(r.values()) for r in self.ex.query(query)]
        table = query.split()[2].split(".")[1]
        if table == self.crash_on:
            raise _Crash(table)
        if params is None:  # INSERT ... SELECT: one row
            self.ex.execute(query)
            self.inserts.append((table, 1))
            return None
        values = ",".join("(" + ",".join(map(_literal, row)) + ")" for row in params)
        self.ex.execute(f"{query} {values}")
        self.inserts.append((table, len(params)))
        return None


def _calendar(folder: Path, text: str = CALENDAR) -> dict[str, list[Row]]:
    path = folder / "campaigns.csv"
    path.write_text(text, encoding="utf-8")
    table = CampaignTable.load(path)
    area = scope_rows(table, lambda c: frozenset() if c.whole_district else frozenset({G1}))
    return {"campaigns": campaign_rows(table), "campaign_scope": area}


def _revisions(ex: ChdbExecutor, db: str) -> dict[str, list[int]]:
    sql = "SELECT DISTINCT revision AS r FROM {db}.{t} ORDER BY r"
    return {t: [int(r["r"]) for r in ex.query(sql.format(db=db, t=t))] for t in CALENDAR_WRITES}


def test_a_change_to_one_table_writes_both_with_one_revision(
    chdb_executor: ChdbExecutor, migrated_db: str, tmp_path: Path
) -> None:
    client = ChdbClient(chdb_executor)
    first = _calendar(tmp_path)
    n_scope = len(first["campaign_scope"])
    assert write_calendar(client, migrated_db, first) == {"campaigns": 2, "campaign_scope": n_scope}
    assert write_calendar(client, migrated_db, first) == {"campaigns": 0, "campaign_scope": 0}
    # a new English name: the campaigns rows differ, the scope rows do not
    renamed = _calendar(tmp_path, CALENDAR.replace(",a,E0501", ",a (2),E0501"))
    assert renamed["campaign_scope"] == first["campaign_scope"]
    assert write_calendar(client, migrated_db, renamed) == {
        "campaigns": 2,
        "campaign_scope": n_scope,
    }
    # the commit last (the tables in either order are safe for the views)
    assert [t for t, _ in client.inserts] == [*CALENDAR_WRITES, *CALENDAR_WRITES]
    assert _revisions(chdb_executor, migrated_db) == {t: [1, 2] for t in CALENDAR_WRITES}


def test_a_load_stopped_half_way_leaves_the_previous_calendar_until_the_next(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tmp_path: Path
) -> None:
    insert(migrated_db, "cases", rows_to_columns("cases", hand_cases()))
    write_calendar(ChdbClient(chdb_executor), migrated_db, _calendar(tmp_path))
    check_hand_made(*campaign_views(chdb_executor, migrated_db))
    for table in CALENDAR_WRITES:  # two sinks that started at once: the load written twice
        chdb_executor.execute(
            f"INSERT INTO {migrated_db}.{table} SELECT * FROM {migrated_db}.{table}"
        )
    check_hand_made(*campaign_views(chdb_executor, migrated_db))

    # stopped before the scope, then before the commit: A, not A2, the previous calendar
    moved = _calendar(tmp_path, CALENDAR.replace("\nA,", "\nA2,"))  # A renamed A2
    for crash_on in ("campaign_scope", CALENDAR_LOADS):
        with pytest.raises(_Crash):
            write_calendar(ChdbClient(chdb_executor, crash_on=crash_on), migrated_db, moved)
        check_hand_made(*campaign_views(chdb_executor, migrated_db))
    assert _revisions(chdb_executor, migrated_db) == {
        "campaigns": [1, 2, 3],
        "campaign_scope": [1, 3],
        CALENDAR_LOADS: [1],
    }

    # the next load: the calendar in force (1) is not the file's; both tables get a revision
    # above the ones written half-way, and it is committed
    written = write_calendar(ChdbClient(chdb_executor), migrated_db, moved)
    assert written == {t: len(moved[t]) for t in CALENDAR_TABLES}
    assert _revisions(chdb_executor, migrated_db) == {
        "campaigns": [1, 2, 3, 4],
        "campaign_scope": [1, 3, 4],
        CALENDAR_LOADS: [1, 4],
    }
    results, _ = campaign_views(chdb_executor, migrated_db)
    assert sorted(results) == [("A2",), ("B",)] and results[("A2",)]["found"] == 3
    assert write_calendar(ChdbClient(chdb_executor), migrated_db, moved) == dict.fromkeys(
        CALENDAR_TABLES, 0
    )


def test_an_emptied_calendar_is_loaded_and_in_force(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tmp_path: Path
) -> None:
    """Every campaign taken out of the file: the load commits a revision with no row and the
    views show no campaign (0022 kept the previous calendar in force for ever); a store that
    never held a calendar gets no commit for an empty file."""
    client = ChdbClient(chdb_executor)
    empty = _calendar(tmp_path, CALENDAR.splitlines()[0] + "\n")
    assert empty == {t: [] for t in CALENDAR_TABLES}
    assert write_calendar(client, migrated_db, empty) == dict.fromkeys(CALENDAR_TABLES, 0)
    assert client.inserts == []

    insert(migrated_db, "cases", rows_to_columns("cases", hand_cases()))
    write_calendar(client, migrated_db, _calendar(tmp_path))
    check_hand_made(*campaign_views(chdb_executor, migrated_db))
    assert write_calendar(client, migrated_db, empty) == dict.fromkeys(CALENDAR_TABLES, 0)
    assert client.inserts[-1] == (CALENDAR_LOADS, 1)
    assert _revisions(chdb_executor, migrated_db)[CALENDAR_LOADS] == [1, 2]
    assert campaign_views(chdb_executor, migrated_db) == ({}, {})
    written_before = len(client.inserts)
    assert write_calendar(client, migrated_db, empty) == dict.fromkeys(CALENDAR_TABLES, 0)
    assert len(client.inserts) == written_before  # the empty calendar is the one in force


def test_the_rows_written_are_the_file_s(
    chdb_executor: ChdbExecutor, migrated_db: str, tmp_path: Path
) -> None:
    wanted = _calendar(tmp_path)
    write_calendar(ChdbClient(chdb_executor), migrated_db, wanted)
    for table in CALENDAR_TABLES:
        names = [c.name for c in TABLES[table] if c.name != "revision"]
        stored = chdb_executor.query(f"SELECT * FROM {migrated_db}.{table}")
        assert sorted(tuple(r[n] for n in names) for r in stored) == sorted(
            tuple(r[n] for n in names) for r in wanted[table]
        )
        assert {r["revision"] for r in stored} == {1}
