"""A synthetic store for the meeting report tests: a month of synthetic cases
(:mod:`sinks.synthetic`) plus a surge hour, cases without a grid code and dead letters."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import numpy as np

from sinks.records import dead_letter_row
from sinks.synthetic import generate
from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason

__all__ = ["BURST", "report_tables"]

H = 3_600_000
BURST = 1_689_732_000_000  # 2023-07-19 10:00 +08:00: the surge hour


def _extra_case(case_id: int, opened: int, closed: int, grid: str) -> dict[str, Any]:
    return {
        "case_id": case_id, "version": 9 << 32, "category_key": "E0102",
        "department": "sanitation", "grid_code": grid, "community": grid[:12],
        "street": grid[:9], "lat": 35.71, "lon": 114.27, "opened_at": opened,
        "dispatched_at": opened + H // 6, "deadline": opened + 4 * H,
        "signed_at": opened + H // 3, "handled_at": closed - H // 2 if closed else 0,
        "closed_at": closed, "voided_at": 0, "status": "closed" if closed else "signed",
        "rework_count": 0, "recurrence_of": 0, "n_events": 1, "urgent": 0,
        "fixed_on_spot": 0, "hold_s": 0,
    }  # fmt: skip


def _extra_cases() -> list[dict[str, Any]]:
    # 40 cases in one hour (a surge), closed over the next day; 3 without a grid code
    burst = [
        _extra_case(900_000 + i, BURST + i * 60_000, BURST + (2 + i // 2) * H, "410611002001001")
        for i in range(40)
    ]
    no_grid = [_extra_case(900_100 + i, BURST - 30 * H + i * H, 0, "") for i in range(3)]
    return burst + no_grid


def _dead_letters() -> dict[str, list[Any]]:
    rows = [
        dead_letter_row(
            DeadLetter("hotline", Reason(r.value), "bad", b"{", "raw.hotline", 0, i),
            received_at_ms=BURST + i * H,
        )
        for i, r in enumerate(list(Reason)[:3])
    ]
    return {k: [r[k] for r in rows] for k in rows[0]}


def _campaigns(cases: dict[str, list[Any]]) -> dict[str, dict[str, list[Any]]]:
    """One whole-district campaign over the two most frequent categories, 10-20 July 2023
    (the synthetic cases' month), with a closure-rate target: the monthly report's
    campaign section has figures to check."""
    top = [k for k, _ in Counter(cases["category_key"]).most_common(2)]
    campaign = {
        "campaign_id": "2023-07-test", "theme": "test", "name_zh": "测试专项", "name_en": "test",
        "categories": ",".join(top), "streets": "", "areas": "", "whole_district": 1,
        "start_date": date(2023, 7, 10), "end_date": date(2023, 7, 20),
        "target_metric": "closure_rate", "target_value": 80.0, "revision": 1,
    }  # fmt: skip
    scope = [{"campaign_id": "2023-07-test", "category_key": k, "grid_code": "", "revision": 1}
             for k in top]  # fmt: skip
    return {
        "campaigns": {k: [v] for k, v in campaign.items()},
        "campaign_scope": {k: [r[k] for r in scope] for k in scope[0]},
        "campaign_loads": {"revision": [1], "loaded_at": [0]},  # its commit (migration 0023)
    }


def report_tables() -> dict[str, dict[str, Any]]:
    """Table columns as the sink takes them (times in epoch ms)."""
    data = generate(300, seed=20230719).tables
    extra = _extra_cases()
    cases = {k: list(np.asarray(v).tolist()) + [c[k] for c in extra] for k, v in
             data["cases"].items()}  # fmt: skip
    return {**data, "cases": cases, "dead_letters": _dead_letters(), **_campaigns(cases)}
