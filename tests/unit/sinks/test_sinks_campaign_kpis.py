"""The campaign views (0012, 0020, 0022) on chdb: a hand-made district whose figures are
known, and a synthetic one, each equal to the Python reference
(sinks/reference_campaigns.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sinks import reference_campaigns as ref
from sinks.campaigns import (
    CALENDAR_LOADS,
    CALENDAR_TABLES,
    CALENDAR_WRITES,
    campaign_rows,
    scope_rows,
)
from sinks.kpi.queries import campaign_results
from sinks.migrate import load_migrations, migrate
from sinks.sql import ChdbExecutor
from sinks.synthetic import GRID_CODES, generate
from sinks.tables import TABLES, rows_to_columns
from streams.reference.campaigns import RECURRENCE_DAYS
from tests.campaign_cases import G1, G2, TZ, check_hand_made, hand_calendar, hand_cases
from tests.kpi_rows import assert_rows_equal

Insert = Callable[[str, str, Mapping[str, Any]], None]
CAMPAIGN_KEY = ("campaign_id",)
RECURRENCE_KEY = ("campaign_id", "days")


def _hand_made(folder: Path) -> dict[str, dict[str, list[Any]]]:
    table = hand_calendar(folder)
    area = scope_rows(table, lambda c: frozenset() if c.whole_district else frozenset({G1}))
    return _tables(hand_cases(), campaign_rows(table), area)


def _row(table: str, *values: Any) -> dict[str, Any]:
    """A row of ``table`` from its values in column order, the revision left out."""
    names = [c.name for c in TABLES[table] if c.name != "revision"]
    return dict(zip(names, values, strict=True))


def _tables(
    cases: list[dict[str, Any]],
    campaigns: list[dict[str, Any]],
    scope: list[dict[str, Any]],
    revision: int = 1,
) -> dict[str, dict[str, list[Any]]]:
    return {
        "cases": rows_to_columns("cases", cases),
        "dispatches": rows_to_columns("dispatches", []),
        "campaigns": rows_to_columns("campaigns", [{**r, "revision": revision} for r in campaigns]),
        "campaign_scope": rows_to_columns(
            "campaign_scope", [{**r, "revision": revision} for r in scope]
        ),
        # the load's commit (migration 0023), written last
        CALENDAR_LOADS: rows_to_columns(CALENDAR_LOADS, [{"revision": revision, "loaded_at": 0}]),
    }


def _load(insert: Insert, db: str, tables: Mapping[str, Mapping[str, Any]]) -> None:
    for table, columns in tables.items():
        insert(db, table, columns)


def _views(ex: ChdbExecutor, db: str, tables: Any) -> tuple[dict, dict]:
    now_ms = int(time.time() * 1000)
    results = assert_rows_equal(
        ex.query(f"SELECT * FROM {db}.kpi_campaigns"),
        ref.campaign_results(tables, TZ, now_ms),
        CAMPAIGN_KEY,
    )
    recurrence = assert_rows_equal(
        ex.query(f"SELECT * FROM {db}.kpi_campaign_recurrence"),
        ref.campaign_recurrence(tables, TZ, now_ms),
        RECURRENCE_KEY,
    )
    return results, recurrence


def test_the_hand_made_campaigns_give_the_figures_worked_out_by_hand(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tmp_path: Path
) -> None:
    tables = _hand_made(tmp_path)
    _load(insert, migrated_db, tables)
    results, recurrence = _views(chdb_executor, migrated_db, tables)
    check_hand_made(results, recurrence)
    report = campaign_results(chdb_executor, migrated_db, TZ, date(2023, 8, 1), date(2023, 8, 31))
    assert [r["campaign_id"] for r in report] == ["A", "B"]
    assert [r["days"] for r in report[0]["recurrence"]] == list(RECURRENCE_DAYS)
    assert report[0]["recurrence"][0]["campaign_recurrences"] == 1
    assert (
        campaign_results(chdb_executor, migrated_db, TZ, date(2023, 9, 1), date(2023, 9, 30)) == []
    )


def test_a_newer_calendar_replaces_the_older_one(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tmp_path: Path
) -> None:
    """A reload writes the whole file with the next revision: a campaign dropped from the
    file, and a grid dropped from an area, drop out of the views."""
    tables = _hand_made(tmp_path)
    _load(insert, migrated_db, tables)
    b = ("B", "stalls", "乙", "b", "E0501;E0504", "", "", 0, date(2023, 8, 5), date(2023, 8, 6))
    newer = _tables(
        [],
        [_row("campaigns", *b, "", 0.0)],
        [_row("campaign_scope", "B", k, g) for k, g in (("E0501", ""), ("E0504", ""), ("", G2))],
        revision=2,
    )
    for table in CALENDAR_WRITES:
        insert(migrated_db, table, newer[table])
    merged = {**tables, **{t: _concat(tables[t], newer[t]) for t in CALENDAR_WRITES}}
    results, _ = _views(chdb_executor, migrated_db, merged)
    assert list(results) == [("B",)]
    assert results[("B",)]["found"] == 0  # case 3 (G1) is no longer in its area
    assert results[("B",)]["target_judged"] == 0


def test_a_calendar_not_committed_leaves_the_previous_one_in_force(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tmp_path: Path
) -> None:
    """A reload that stopped after writing its campaigns, and one that stopped after writing
    both tables but before its commit (0023): the views still give the previous calendar,
    whole, also after a merge (0012's views gave the new campaigns with the old scope); once
    the revision is committed they give the new one."""
    tables = _hand_made(tmp_path)
    _load(insert, migrated_db, tables)
    # the new calendar: A dropped, B on E0504 only, the whole district, 1 to 10 August
    b = ("B", "stalls", "乙", "b", "E0504", "", "", 1, date(2023, 8, 1), date(2023, 8, 10))
    newer = _tables(
        [], [_row("campaigns", *b, "", 0.0)], [_row("campaign_scope", "B", "E0504", "")], 2
    )
    written = dict(tables)
    for table in CALENDAR_TABLES:
        insert(migrated_db, table, newer[table])
        # a merge keeps the previous revision's rows (0012's key, the campaign, dropped them)
        chdb_executor.execute(f"OPTIMIZE TABLE {migrated_db}.{table} FINAL")
        written[table] = _concat(tables[table], newer[table])
        check_hand_made(*_views(chdb_executor, migrated_db, written))

    insert(migrated_db, CALENDAR_LOADS, newer[CALENDAR_LOADS])
    whole = {**written, CALENDAR_LOADS: _concat(tables[CALENDAR_LOADS], newer[CALENDAR_LOADS])}
    results, recurrence = _views(chdb_executor, migrated_db, whole)
    assert list(results) == [("B",)] and {k[0] for k in recurrence} == {"B"}
    # case 5 (E0504, opened 5 August, due the 6th, open); in the old B's area too, but the
    # old B also had E0501 (case 3)
    assert (results[("B",)]["found"], results[("B",)]["due"]) == (1, 1)


def test_an_emptied_calendar_is_in_force_empty(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tmp_path: Path
) -> None:
    """Every campaign taken out of the file: the load commits a revision with no row, and
    the views show no campaign (0022 kept the previous calendar in force for ever)."""
    tables = _hand_made(tmp_path)
    _load(insert, migrated_db, tables)
    empty = _tables([], [], [], revision=2)
    insert(migrated_db, CALENDAR_LOADS, empty[CALENDAR_LOADS])
    whole = {**tables, CALENDAR_LOADS: _concat(tables[CALENDAR_LOADS], empty[CALENDAR_LOADS])}
    results, recurrence = _views(chdb_executor, migrated_db, whole)
    assert results == {} and recurrence == {}
    assert (
        campaign_results(chdb_executor, migrated_db, TZ, date(2023, 8, 1), date(2023, 8, 31)) == []
    )


def _migrated_before_commits(ex: ChdbExecutor, db: str) -> None:
    """``db`` migrated up to 0022, the calendar's rule before its commits (0023)."""
    upgrade = [m.version for m in load_migrations() if m.name == "campaign_calendar_loads"]
    assert upgrade == [23]
    migrate(ex, db, TZ, [m for m in load_migrations() if m.version < upgrade[0]])


def test_the_upgrade_commits_the_calendar_readers_saw(
    chdb_executor: ChdbExecutor, chdb_db: str, insert: Insert, tmp_path: Path
) -> None:
    """Migration 0023 on a store loaded under 0022's rule (the highest revision both tables
    hold, here 1: revision 2 of a load that stopped after its campaigns): it commits 1, and
    the views give the same calendar across the upgrade."""
    _migrated_before_commits(chdb_executor, chdb_db)
    tables = _hand_made(tmp_path)
    _load(insert, chdb_db, {t: c for t, c in tables.items() if t != CALENDAR_LOADS})
    b = ("B", "stalls", "乙", "b", "E0504", "", "", 1, date(2023, 8, 1), date(2023, 8, 10))
    half = _tables([], [_row("campaigns", *b, "", 0.0)], [], 2)
    insert(chdb_db, "campaigns", half["campaigns"])
    migrate(chdb_executor, chdb_db, TZ)
    committed = chdb_executor.query(f"SELECT revision FROM {chdb_db}.{CALENDAR_LOADS}")
    assert [int(r["revision"]) for r in committed] == [1]
    stored = {**tables, "campaigns": _concat(tables["campaigns"], half["campaigns"])}
    check_hand_made(*_views(chdb_executor, chdb_db, stored))


def test_the_upgrade_of_a_store_without_a_calendar_commits_nothing(
    chdb_executor: ChdbExecutor, chdb_db: str
) -> None:
    _migrated_before_commits(chdb_executor, chdb_db)
    migrate(chdb_executor, chdb_db, TZ)
    assert chdb_executor.query(f"SELECT count() AS n FROM {chdb_db}.{CALENDAR_LOADS}") == [{"n": 0}]
    assert chdb_executor.query(f"SELECT * FROM {chdb_db}.kpi_campaigns") == []


def _concat(a: Mapping[str, list[Any]], b: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    return {k: list(a[k]) + list(b[k]) for k in a}


@pytest.mark.parametrize("seed", [20230801, 7])
def test_synthetic_cases_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, seed: int
) -> None:
    data = generate(400, seed=seed, days=40)
    campaigns = [
        (
            "S1",
            "t1",
            "一",
            "one",
            "C0101;E0102",
            "",
            "",
            1,
            date(2023, 7, 12),
            date(2023, 7, 18),
            "on_time_closure_rate",
            60.0,
        ),
        (
            "S2",
            "t2",
            "二",
            "two",
            "E0505",
            "",
            "410611002",
            0,
            date(2023, 7, 5),
            date(2023, 7, 25),
            "after_share_60",
            100.0,
        ),
        (
            "S3",
            "t3",
            "三",
            "three",
            "E0111;E0505",
            "x",
            "",
            0,
            date(2023, 7, 16),
            date(2023, 7, 24),
            "",
            0.0,
        ),
    ]
    scope = [
        *[("S1", k, "") for k in ("C0101", "E0102")],
        ("S2", "E0505", ""),
        *[("S2", "", g) for g in GRID_CODES if g.startswith("410611002")],
        *[("S3", k, "") for k in ("E0111", "E0505")],
        ("S3", "", GRID_CODES[0]),
        ("S3", "", GRID_CODES[1]),
    ]
    tables = {
        **data.tables,
        **{
            k: v
            for k, v in _tables(
                [],
                [_row("campaigns", *c) for c in campaigns],
                [_row("campaign_scope", *r) for r in scope],
            ).items()
            if k.startswith("campaign")
        },
    }
    _load(insert, migrated_db, tables)
    results, recurrence = _views(chdb_executor, migrated_db, tables)
    assert all(r["found"] > 0 and r["due"] > 0 for r in results.values())
    assert any(r["after_recurrences"] > 0 for r in recurrence.values())
