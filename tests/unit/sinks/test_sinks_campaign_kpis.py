"""The campaign views (0012) on chdb: a hand-made district whose figures are known, and a
synthetic one, each equal to the Python reference (sinks/reference_campaigns.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sinks import reference_campaigns as ref
from sinks.campaigns import CAMPAIGN_COLUMNS, SCOPE_COLUMNS
from sinks.kpi.queries import campaign_results
from sinks.sql import ChdbExecutor
from sinks.synthetic import GRID_CODES, generate
from sinks.tables import TABLES, rows_to_columns
from streams.reference.campaigns import RECURRENCE_DAYS
from tests.kpi_rows import assert_rows_equal

TZ = "Asia/Shanghai"
Insert = Callable[[str, str, Mapping[str, Any]], None]
CAMPAIGN_KEY = ("campaign_id",)
RECURRENCE_KEY = ("campaign_id", "days")
G1, G2 = "410611001001001", "410611002001001"
FAR = 4_000_000_000_000  # a deadline never due


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


def _case(case_id: int, key: str, grid: str, opened: str, **times: Any) -> dict[str, Any]:
    """A case row: dispatched 10 min after opening with a deadline far away unless
    ``times`` says otherwise (local ISO times or 0)."""
    row: dict[str, Any] = {c.name: "" if c.type == "String" else 0 for c in TABLES["cases"]}
    row.update(
        case_id=case_id,
        version=1,
        category_key=key,
        department="enforcement",
        grid_code=grid,
        community=grid[:12],
        street=grid[:9],
        opened_at=_ms(opened),
        dispatched_at=_ms(opened) + 600_000,
        deadline=FAR,
        status="dispatched",
    )
    for name, value in times.items():
        row[name] = _ms(value) if isinstance(value, str) and name.endswith("_at") else value
    if isinstance(times.get("deadline"), str):
        row["deadline"] = _ms(times["deadline"])
    return row


def _hand_made() -> dict[str, dict[str, list[Any]]]:
    closed = {"status": "closed", "handled_at": "2023-08-06 09:00", "closed_at": "2023-08-06 10:00"}
    cases = [
        _case(
            1,
            "E0501",
            G1,
            "2023-07-20 10:00",
            status="closed",
            closed_at="2023-07-20 12:00",
            dispatched_at=0,
        ),
        _case(2, "E0501", G2, "2023-07-25 10:00", recurrence_of=99),
        _case(3, "E0501", G1, "2023-08-05 10:00", deadline="2023-08-07 10:00", **closed),
        _case(
            4,
            "E0501",
            G2,
            "2023-08-08 10:00",
            status="closed",
            dispatched_at=0,
            closed_at="2023-08-08 10:30",
            fixed_on_spot=1,
        ),
        _case(5, "E0504", G1, "2023-08-05 11:00", deadline="2023-08-06 11:00"),
        _case(6, "E0501", G1, "2023-08-15 10:00", recurrence_of=3),
        _case(7, "E0501", G2, "2023-08-20 10:00", recurrence_of=1),
        _case(8, "E0501", G1, "2023-08-09 10:00", status="voided", voided_at="2023-08-09 11:00"),
        _case(9, "E0102", G1, "2023-08-05 10:00"),
        _case(10, "E0501", "", "2023-08-03 10:00"),
    ]
    campaigns = [
        (
            "A",
            "vending",
            "甲",
            "a",
            "E0501",
            "",
            "",
            1,
            date(2023, 8, 1),
            date(2023, 8, 10),
            "after_share_30",
            50.0,
        ),
        (
            "B",
            "stalls",
            "乙",
            "b",
            "E0501;E0504",
            "",
            "410611001001",
            0,
            date(2023, 8, 5),
            date(2023, 8, 6),
            "closure_rate",
            90.0,
        ),
    ]
    scope = [("A", "E0501", ""), ("B", "E0501", ""), ("B", "E0504", ""), ("B", "", G1)]
    return _tables(cases, campaigns, scope)


def _tables(
    cases: list[dict[str, Any]], campaigns: list[tuple[Any, ...]], scope: list[tuple[Any, ...]]
) -> dict[str, dict[str, list[Any]]]:
    return {
        "cases": rows_to_columns("cases", cases),
        "dispatches": rows_to_columns("dispatches", []),
        "campaigns": rows_to_columns(
            "campaigns",
            [dict(zip((*CAMPAIGN_COLUMNS, "revision"), (*r, 1), strict=True)) for r in campaigns],
        ),
        "campaign_scope": rows_to_columns(
            "campaign_scope",
            [dict(zip((*SCOPE_COLUMNS, "revision"), (*r, 1), strict=True)) for r in scope],
        ),
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
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    tables = _hand_made()
    _load(insert, migrated_db, tables)
    results, recurrence = _views(chdb_executor, migrated_db, tables)
    a, b = results[("A",)], results[("B",)]
    # A: cases 3, 4 and 10 found (8 voided, 5 and 9 other categories); 3 and 4 due and closed
    assert (a["found"], a["fixed"], a["fixed_on_spot"], a["due"], a["closed"]) == (3, 2, 1, 2, 2)
    assert a["closure_rate"] == 100.0 and a["days"] == 10
    # B, on grid G1 only: 3 closed, 5 overdue since 08-06
    assert (b["found"], b["fixed"], b["due"], b["closed"], b["closure_rate"]) == (2, 1, 2, 1, 50.0)
    assert (b["target_judged"], b["target_met"], b["target_actual"]) == (1, 0, 50.0)
    a30, b30 = recurrence[("A", 30)], recurrence[("B", 30)]
    # before A: 1 and 2 (2 a recurrence); after it: 6 (recurs 3, found in A) and 7 (recurs 1)
    assert (a30["before_cases"], a30["before_recurrences"]) == (2, 1)
    assert (a30["after_cases"], a30["after_recurrences"], a30["campaign_recurrences"]) == (2, 2, 1)
    assert a30["after_from"] == date(2023, 8, 11) and a30["before_from"] == date(2023, 7, 2)
    assert a30["after_share"] == 100.0 and a30["complete"] == 1
    assert (a["target_actual"], a["target_judged"], a["target_met"]) == (100.0, 1, 0)
    # B sees G1 only: 1 before, 6 after
    assert (b30["before_cases"], b30["after_cases"], b30["campaign_recurrences"]) == (1, 1, 1)
    assert {k[1] for k in recurrence} == set(RECURRENCE_DAYS)
    report = campaign_results(chdb_executor, migrated_db, TZ, date(2023, 8, 1), date(2023, 8, 31))
    assert [r["campaign_id"] for r in report] == ["A", "B"]
    assert [r["days"] for r in report[0]["recurrence"]] == list(RECURRENCE_DAYS)
    assert report[0]["recurrence"][0]["campaign_recurrences"] == 1
    assert (
        campaign_results(chdb_executor, migrated_db, TZ, date(2023, 9, 1), date(2023, 9, 30)) == []
    )


def test_a_newer_calendar_replaces_the_older_one(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    """A reload writes the whole file with the next revision: a campaign dropped from the
    file, and a grid dropped from an area, drop out of the views."""
    tables = _hand_made()
    _load(insert, migrated_db, tables)
    newer = _tables(
        [],
        [
            (
                "B",
                "stalls",
                "乙",
                "b",
                "E0501;E0504",
                "",
                "",
                0,
                date(2023, 8, 5),
                date(2023, 8, 6),
                "",
                0.0,
            )
        ],
        [("B", "E0501", ""), ("B", "E0504", ""), ("B", "", G2)],
    )
    for table in ("campaigns", "campaign_scope"):
        newer[table]["revision"] = [2] * len(newer[table]["revision"])
        insert(migrated_db, table, newer[table])
    merged = {
        **tables,
        **{t: _concat(tables[t], newer[t]) for t in ("campaigns", "campaign_scope")},
    }
    results, _ = _views(chdb_executor, migrated_db, merged)
    assert list(results) == [("B",)]
    assert results[("B",)]["found"] == 0  # case 3 (G1) is no longer in its area
    assert results[("B",)]["target_judged"] == 0


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
        **{k: v for k, v in _tables([], campaigns, scope).items() if k.startswith("campaign")},
    }
    _load(insert, migrated_db, tables)
    results, recurrence = _views(chdb_executor, migrated_db, tables)
    assert all(r["found"] > 0 and r["due"] > 0 for r in results.values())
    assert any(r["after_recurrences"] > 0 for r in recurrence.values())
