"""A hand-made campaign calendar and cases whose campaign figures are worked out by hand,
for the campaign view tests on chdb and on the ClickHouse server alike."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sinks import reference_campaigns as ref
from sinks.campaigns import CALENDAR_WRITES
from sinks.sql import Executor
from sinks.tables import TABLES
from streams.reference.campaigns import CAMPAIGN_COLUMNS, RECURRENCE_DAYS, CampaignTable
from tests.kpi_rows import assert_rows_equal, stored_columns

__all__ = [
    "G1",
    "G2",
    "TZ",
    "campaign_views",
    "check_hand_made",
    "hand_calendar",
    "hand_cases",
]

TZ = "Asia/Shanghai"
G1, G2 = "410611001001001", "410611002001001"  # G1 in community 410611001001, G2 not
FAR = 4_000_000_000_000  # a deadline never due
# A: street vending district-wide, 1 to 10 August; B: vending and out-of-shop trading in
# community 410611001001 on 5 and 6 August.
CALENDAR = (
    ",".join(CAMPAIGN_COLUMNS)
    + "\nA,vending,甲,a,E0501,,,2023-08-01,2023-08-10,after_share_30,50"
    + "\nB,stalls,乙,b,E0501;E0504,,410611001001,2023-08-05,2023-08-06,closure_rate,90\n"
)


def hand_calendar(folder: Path) -> CampaignTable:
    path = folder / "campaigns.csv"
    path.write_text(CALENDAR, encoding="utf-8")
    return CampaignTable.load(path)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


def _case(case_id: int, key: str, grid: str, opened: str, **changes: Any) -> dict[str, Any]:
    """A case row (times in ms): dispatched 10 min after opening with a deadline never due
    unless ``changes`` say otherwise (times as local ISO text, or 0)."""
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
    for name, value in changes.items():
        row[name] = _ms(value) if isinstance(value, str) and name != "status" else value
    return row


def hand_cases() -> list[dict[str, Any]]:
    closed = {"status": "closed", "handled_at": "2023-08-06 09:00", "closed_at": "2023-08-06 10:00"}
    on_spot = {"status": "closed", "dispatched_at": 0, "fixed_on_spot": 1}
    return [
        _case(1, "E0501", G1, "2023-07-20 10:00", closed_at="2023-07-20 12:00", **on_spot),
        _case(2, "E0501", G2, "2023-07-25 10:00", recurrence_of=99),
        _case(3, "E0501", G1, "2023-08-05 10:00", deadline="2023-08-07 10:00", **closed),
        _case(4, "E0501", G2, "2023-08-08 10:00", closed_at="2023-08-08 10:30", **on_spot),
        _case(5, "E0504", G1, "2023-08-05 11:00", deadline="2023-08-06 11:00"),
        _case(6, "E0501", G1, "2023-08-15 10:00", recurrence_of=3),
        _case(7, "E0501", G2, "2023-08-20 10:00", recurrence_of=1),
        _case(8, "E0501", G1, "2023-08-09 10:00", status="voided", voided_at="2023-08-09 11:00"),
        _case(9, "E0102", G1, "2023-08-05 10:00"),
        _case(10, "E0501", "", "2023-08-03 10:00"),
    ]


Rows = Mapping[tuple[Any, ...], Mapping[str, Any]]


def check_hand_made(results: Rows, recurrence: Rows) -> None:
    """The figures of :func:`hand_cases` under :func:`hand_calendar`, worked out by hand."""
    a, b = results[("A",)], results[("B",)]
    # A: cases 3, 4 and 10 found (8 voided, 5 and 9 other categories); 3 and 4 due and closed
    assert (a["found"], a["fixed"], a["fixed_on_spot"], a["due"], a["closed"]) == (3, 2, 1, 2, 2)
    assert a["closure_rate"] == 100.0 and a["days"] == 10
    # B, in its community: 3 closed, 5 overdue since 08-06 (10 has no grid, 4 is elsewhere)
    assert (b["found"], b["fixed"], b["due"], b["closed"], b["closure_rate"]) == (2, 1, 2, 1, 50.0)
    assert (b["target_judged"], b["target_met"], b["target_actual"]) == (1, 0, 50.0)
    a30, b30 = recurrence[("A", 30)], recurrence[("B", 30)]
    # before A: 1 and 2 (2 a recurrence); after it: 6 (recurs 3, found in A) and 7 (recurs 1)
    assert (a30["before_cases"], a30["before_recurrences"]) == (2, 1)
    assert (a30["after_cases"], a30["after_recurrences"], a30["campaign_recurrences"]) == (2, 2, 1)
    assert a30["after_from"] == date(2023, 8, 11) and a30["before_from"] == date(2023, 7, 2)
    assert a30["after_share"] == 100.0 and a30["complete"] == 1
    assert (a["target_actual"], a["target_judged"], a["target_met"]) == (100.0, 1, 0)
    # B sees its community only: 1 before, 6 after
    assert (b30["before_cases"], b30["after_cases"], b30["campaign_recurrences"]) == (1, 1, 1)
    assert {k[1] for k in recurrence} == set(RECURRENCE_DAYS)


def campaign_views(ex: Executor, db: str) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """``kpi_campaigns`` and ``kpi_campaign_recurrence`` of ``db``, each checked equal to
    the reference over the rows stored in ``db`` (keyed as assert_rows_equal gives them)."""
    tables = {t: stored_columns(ex, db, t) for t in ("cases", "dispatches", *CALENDAR_WRITES)}
    now_ms = int(time.time() * 1000)
    results = assert_rows_equal(
        ex.query(f"SELECT * FROM {db}.kpi_campaigns"),
        ref.campaign_results(tables, TZ, now_ms),
        ("campaign_id",),
    )
    recurrence = assert_rows_equal(
        ex.query(f"SELECT * FROM {db}.kpi_campaign_recurrence"),
        ref.campaign_recurrence(tables, TZ, now_ms),
        ("campaign_id", "days"),
    )
    return results, recurrence
