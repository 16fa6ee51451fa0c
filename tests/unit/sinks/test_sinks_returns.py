"""退单率 (kpi_returns) and 满意度 (kpi_satisfaction) on chdb equal the Python reference;
replays change nothing."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import numpy as np
import pytest

from sinks import reference, reference_stages
from sinks.rollups import refresh
from sinks.sql import ChdbExecutor
from sinks.synthetic import Dataset, generate
from tests.kpi_rows import assert_rows_equal, by_key

TZ = "Asia/Shanghai"
Insert = Callable[[str, str, Mapping[str, Any]], None]
DESKS = ("municipal", "sanitation", "landscaping", "enforcement")
MIN = 60_000


def _stages(cases: Mapping[str, Any], seed: int) -> dict[str, list[Any]]:
    """Dispatches, returns and re-dispatches of the dataset's cases (plus one step of a
    case the cases table lacks, and steps the view does not count)."""
    rng = random.Random(seed)
    cols: dict[str, list[Any]] = {
        n: []
        for n in ("transition_id", "case_id", "seq", "action", "from_status", "to_status",
                  "ts", "actor", "department", "update_id", "note", "deadline", "result")
    }  # fmt: skip

    def add(
        case_id: int, seq: int, action: str, ts: int, department: str, result: str = ""
    ) -> None:
        values = (f"{case_id}:{seq}", case_id, seq, action, "", "", ts, "x", department,
                  f"u{case_id}:{seq}", "", ts + 600 * MIN, result)  # fmt: skip
        for name, value in zip(cols, values, strict=True):
            cols[name].append(value)

    for case_id, opened in sorted(set(zip(cases["case_id"], cases["opened_at"], strict=True))):
        ts, dept, seq = int(opened) + 5 * MIN, rng.choice(DESKS), 1
        add(int(case_id), seq, "dispatch", ts, dept)
        while rng.random() < 0.25 and seq < 7:  # returned, re-dispatched elsewhere
            ts += rng.randint(5, 20 * 60) * MIN  # sometimes into the next day or week
            add(int(case_id), seq + 1, "return", ts, dept)
            dept = rng.choice([d for d in DESKS if d != dept])
            add(int(case_id), seq + 2, "redispatch", ts, dept)
            seq += 2
        add(int(case_id), seq + 1, "sign", ts + MIN, dept)
        if rng.random() < 0.6:  # closed and called back, a day or so later
            result = rng.choice(reference_stages.CALLBACK_RESULTS)
            add(int(case_id), seq + 2, "callback", ts + rng.randint(60, 3000) * MIN, dept, result)
    add(99_999_999, 1, "dispatch", int(cases["opened_at"][0]), "municipal")
    return cols


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    data = generate(200, seed=20230801)
    data.tables["case_stages"] = _stages(data.tables["cases"], seed=7)
    return data


def _returns(ex: ChdbExecutor, db: str) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    return by_key(ex.query(f"SELECT * FROM {db}.kpi_returns"))


def test_returns_equal_the_reference_and_replays_change_nothing(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    for table in ("cases", "case_stages"):
        insert(migrated_db, table, dataset.tables[table])
    rows = chdb_executor.query(f"SELECT * FROM {migrated_db}.kpi_returns")
    got = assert_rows_equal(rows, reference_stages.returns(dataset.tables, TZ))
    months = [r for k, r in got.items() if k[0] == "month" and k[2] == "district"]
    assert sum(r["returned"] for r in months) > 20
    assert {k[3] for k in got if k[2] == "department"} == set(DESKS)
    assert any(k[2] == "category" for k in got)
    insert(migrated_db, "case_stages", dataset.tables["case_stages"])  # a replay
    assert _returns(chdb_executor, migrated_db) == got


def test_returns_take_the_latest_category_stale_or_refreshed(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    """The categories come from case_facts: its stored rows once the facts are refreshed,
    live ones for a month written to since (here: newer versions of cases, recategorised)."""
    ex, db = chdb_executor, migrated_db
    for table in ("cases", "case_stages"):
        insert(db, table, dataset.tables[table])
    want = reference_stages.returns(dataset.tables, TZ)
    assert refresh(ex, db, "facts").months
    assert_rows_equal(ex.query(f"SELECT * FROM {db}.kpi_returns"), want)
    cases = dataset.tables["cases"]
    newer = {k: np.asarray(v)[:40].copy() for k, v in cases.items()}
    newer["version"] = newer["version"].astype(np.uint64) + np.uint64(1 << 40)
    newer["category_key"][:] = "Z9901"
    insert(db, "cases", newer)
    tables = {
        **dataset.tables,
        "cases": {k: np.concatenate([np.asarray(cases[k]), newer[k]]) for k in cases},
    }
    want = reference_stages.returns(tables, TZ)
    assert any(k[3] == "Z9901" for k in want)
    assert_rows_equal(ex.query(f"SELECT * FROM {db}.kpi_returns"), want)  # stale
    assert refresh(ex, db, "facts").months
    assert_rows_equal(ex.query(f"SELECT * FROM {db}.kpi_returns"), want)  # refreshed


def test_hand_made_returns(chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert) -> None:
    """One case, dispatched to sanitation on Mon 2023-07-31 09:00 (Shanghai), returned at
    09:30, re-dispatched to municipal; a second case dispatched to sanitation at 23:30 UTC
    (Tuesday 07:30 local)."""
    mon9 = 1_690_765_200_000  # 2023-07-31 09:00 +08:00
    stages = {
        "transition_id": ["1:1", "1:2", "1:3", "2:1"],
        "case_id": [1, 1, 1, 2],
        "seq": [1, 2, 3, 1],
        "action": ["dispatch", "return", "redispatch", "dispatch"],
        "from_status": ["", "", "", ""],
        "to_status": ["", "", "", ""],
        "ts": [mon9, mon9 + 30 * MIN, mon9 + 30 * MIN, mon9 + 22 * 60 * MIN + 30 * MIN],
        "actor": ["c", "s", "c", "c"],
        "department": ["sanitation", "sanitation", "municipal", "sanitation"],
        "update_id": ["a", "b", "c", "d"],
        "note": ["", "not ours", "", ""],
        "deadline": [0, 0, 0, 0],
        "result": ["", "", "", ""],
    }
    insert(migrated_db, "case_stages", stages)
    got = _returns(chdb_executor, migrated_db)
    mon, tue = date(2023, 7, 31), date(2023, 8, 1)
    assert got[("day", mon, "department", "sanitation")]["return_rate"] == 100.0
    assert got[("day", tue, "department", "sanitation")]["returned"] == 0
    week = got[("week", mon, "department", "sanitation")]
    assert (week["dispatched"], week["returned"], week["return_rate"]) == (2, 1, 50.0)
    assert got[("week", mon, "department", "municipal")]["return_rate"] == 0.0
    district = got[("week", mon, "district", "")]
    assert (district["dispatched"], district["returned"]) == (3, 1)
    assert not [k for k in got if k[2] == "category"]  # neither case is in the cases table


def test_satisfaction_equals_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    insert(migrated_db, "case_stages", dataset.tables["case_stages"])
    rows = chdb_executor.query(f"SELECT * FROM {migrated_db}.kpi_satisfaction")
    got = assert_rows_equal(rows, reference_stages.satisfaction(dataset.tables, TZ))
    month = [r for k, r in got.items() if k[0] == "month" and k[2] == "district"]
    assert all(sum(r[n] for r in month) > 10 for n in reference_stages.CALLBACK_RESULTS)
    assert all(0 < r["satisfaction_rate"] < 100 for r in month)


def test_hand_made_satisfaction(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert
) -> None:
    mon9 = 1_690_765_200_000  # 2023-07-31 09:00 +08:00
    results = ["satisfied", "basically_satisfied", "unsatisfied", "unreachable", "satisfied"]
    n = len(results)
    stages = {
        "transition_id": [f"{i}:9" for i in range(n)],
        "case_id": list(range(n)),
        "seq": [9] * n,
        "action": ["callback"] * n,
        "from_status": ["closed"] * n,
        "to_status": ["closed"] * n,
        "ts": [mon9 + i * MIN for i in range(n)],
        "actor": ["callback-desk"] * n,
        "department": ["sanitation"] * 4 + ["municipal"],
        "update_id": [f"cb{i}" for i in range(n)],
        "note": [""] * n,
        "deadline": [0] * n,
        "result": results,
    }
    insert(migrated_db, "case_stages", stages)
    rows = chdb_executor.query(f"SELECT * FROM {migrated_db}.kpi_satisfaction")
    got = {(r["period"], r["level"], r["unit"]): r for r in rows}
    sanitation = got[("day", "department", "sanitation")]
    # 2 content of 3 reached (the unreachable one is not counted)
    assert (sanitation["callbacks"], sanitation["reached"]) == (4, 3)
    assert sanitation["satisfaction_rate"] == pytest.approx(200 / 3)
    assert got[("week", "district", "")]["satisfaction_rate"] == 75.0


def _recurrences(ex: ChdbExecutor, db: str) -> dict[tuple, dict[str, Any]]:
    rows = ex.query(f"SELECT * FROM {db}.kpi_recurrences")
    return {(r["period"], r["period_start"], r["level"], r["unit"]): r for r in rows}


def test_recurrences_equal_the_reference(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    insert(migrated_db, "cases", dataset.tables["cases"])
    expected = reference.recurrences(dataset.tables, TZ)
    got = _recurrences(chdb_executor, migrated_db)
    assert set(got) == set(expected)
    for key, want in expected.items():
        for name, value in want.items():
            assert got[key][name] == pytest.approx(value), (key, name)
    months = [r for k, r in got.items() if k[0] == "month" and k[2] == "district"]
    assert sum(r["recurred"] for r in months) > 0 and sum(r["closed"] for r in months) > 20


def test_hand_made_recurrences(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, dataset: Dataset
) -> None:
    """Case 1 (municipal) closed Mon 2023-07-31 10:00 Shanghai, came back twice (cases 2, 3);
    case 4 (sanitation) closed the same day, never came back; case 5 is still open."""
    mon10 = 1_690_768_800_000
    names = list(dataset.tables["cases"])
    rows = []
    for case_id, dept, status, closed, rec in (
        (1, "municipal", "closed", mon10, 0),
        (2, "municipal", "dispatched", 0, 1),
        (3, "municipal", "closed", mon10 + 3 * 86_400_000, 1),
        (4, "sanitation", "closed", mon10, 0),
        (5, "sanitation", "dispatched", 0, 0),
    ):
        row = {n: dataset.tables["cases"][n][0] for n in names}
        row |= {"case_id": case_id, "version": 1, "department": dept, "status": status,
                "closed_at": closed, "recurrence_of": rec, "category_key": "C0101"}  # fmt: skip
        rows.append(row)
    insert(migrated_db, "cases", {n: [r[n] for r in rows] for n in names})
    got = _recurrences(chdb_executor, migrated_db)
    mon = date(2023, 7, 31)
    municipal = got[("day", mon, "department", "municipal")]
    assert (municipal["closed"], municipal["recurred"], municipal["recurrences"]) == (1, 1, 2)
    assert municipal["recurrence_rate"] == 100.0
    assert got[("day", mon, "department", "sanitation")]["recurrence_rate"] == 0.0
    district = got[("week", mon, "district", "")]
    assert (district["closed"], district["recurred"], district["recurrence_rate"]) == (
        3,
        1,
        100 / 3,
    )
    assert got[("day", date(2023, 8, 3), "department", "municipal")]["recurred"] == 0
