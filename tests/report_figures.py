"""A meeting report's figures against the Python reference (``sinks/reference.py``,
``sinks/reference_reports.py``), section by section, for the unit tests (chdb) and the
integration test (the pipeline into the ClickHouse server) alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from sinks import reference
from sinks import reference_campaigns as ref_campaigns
from sinks import reference_reports as ref
from sinks.kpi.sections import ESCALATION_LEVELS, ReportData
from tests.kpi_rows import assert_rows_equal

__all__ = ["assert_report_matches"]

Tables = Mapping[str, Mapping[str, Any]]
UNIT_COUNTS = ("opened", "due", "closed", "closed_on_time", "recurrences")
UNIT_RATES = ("closure_rate", "on_time_closure_rate", "on_time_handling_rate")


def _pick(row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {n: row[n] for n in names}


def _league(data: ReportData, units: dict, scores: dict) -> None:
    p = data.period
    key = (p.meeting.view_period, p.start)
    want = {
        (k[3],): {**_pick(units[k], ("opened", "due", "closed", *UNIT_RATES)), **scores[k]}
        for k in scores
        if k[:2] == key
    }
    rows = data.sections["league"]
    assert_rows_equal(rows, want, ("department",))
    composites = [r["composite"] for r in rows]
    assert composites == sorted(composites, reverse=True)  # best first


def _streets(data: ReportData, units: dict) -> None:
    p = data.period
    want = {
        (k[2], k[3]): _pick(row, (*UNIT_COUNTS, *UNIT_RATES))
        for k, row in units.items()
        if k[:2] == (p.meeting.view_period, p.start) and k[2] in ("street", "community")
    }
    assert_rows_equal(data.sections["streets"], want, ("level", "unit"))


def _trend(data: ReportData, units: dict) -> None:
    p = data.period
    days = {p.trend_start + timedelta(days=i) for i in range((p.end - p.trend_start).days + 1)}
    want = {
        (k[1],): _pick(row, ("opened", "due", "closed", "on_time_closure_rate"))
        for k, row in units.items()
        if k[0] == "day" and k[2] == "district" and k[1] in days
    }
    assert_rows_equal(data.sections["trend"], want, ("day",))


def _intake(data: ReportData, tables: Tables, tz: str) -> None:
    p = data.period
    want = {
        (k[2],): _pick(row, ("reports", "new_cases", "duplicates", "duplicate_share",
                              "fixed_on_spot", "late_reports"))
        for k, row in reference.intake(tables, tz).items()
        if k[:2] == (p.meeting.view_period, p.start)
    }  # fmt: skip
    assert_rows_equal(data.sections["intake"]["channels"], want, ("source",))
    dead = ref.dead_letters(tables["dead_letters"], tz, p.start, p.end)
    got = {
        (r["source"], r["reason"]): r["dead_letters"]
        for r in data.sections["intake"]["dead_letters"]
    }
    assert got == dict(dead)


def _overdue(data: ReportData, tables: Tables, tz: str) -> None:
    from_s, to_s = data.period.bounds_s(tz)
    least = data.period.meeting.overdue_from_level
    want = ref.overdue(tables, from_s, to_s, data.asof_s, ESCALATION_LEVELS, least)
    first = ref.overdue_first(want, ESCALATION_LEVELS, data.period.meeting.overdue_rows)
    cases = data.sections["overdue"]["cases"]
    assert [r["case_id"] for r in cases] == first
    assert_rows_equal(cases, {(case_id,): want[case_id] for case_id in first}, ("case_id",))
    departments: dict[tuple[str], dict[str, int]] = {}
    for row in want.values():
        counts = departments.setdefault((row["department"],), {"cases": 0, "unhandled": 0})
        counts["cases"] += 1
        counts["unhandled"] += 1 - row["is_handled"]
    assert_rows_equal(data.sections["overdue"]["departments"], departments, ("department",))
    p = data.period
    counts = {
        (k[2], k[3]): row
        for k, row in reference.escalations(tables, tz).items()
        if k[:2] == (p.meeting.view_period, p.start)
    }
    assert_rows_equal(data.sections["overdue"]["counts"], counts, ("department", "level"))


def _chronic(data: ReportData, tables: Tables, tz: str) -> None:
    from_s, to_s = data.period.bounds_s(tz)
    places = data.sections["chronic"]["places"]
    assert_rows_equal(places, ref.chronic(tables, from_s, to_s), ("grid_code", "category_key"))
    p = data.period
    rates = {
        (k[2], k[3]): row
        for k, row in reference.recurrences(tables, tz).items()
        if k[:2] == (p.meeting.view_period, p.start) and k[2] in ("department", "district")
    }
    assert_rows_equal(data.sections["chronic"]["rates"], rates, ("level", "unit"))


def _hotspots(data: ReportData, tables: Tables, tz: str) -> None:
    p = data.period
    want = {
        (k[2],): row
        for k, row in ref.hotspots(tables, tz).items()
        if k[:2] == (p.meeting.view_period, p.start)
    }
    rows = data.sections["hotspots"]
    assert_rows_equal(rows, want, ("grid_code",))
    blank = [i for i, r in enumerate(rows) if not r["grid_code"]]
    assert blank in ([], [len(rows) - 1])  # the cases without a grid code last, apart


def _surge(data: ReportData, tables: Tables, tz: str) -> None:
    from_s, to_s = data.period.bounds_s(tz)
    want = ref.surge(tables, from_s, to_s)
    got = data.sections["surge"]
    for name, value in want.items():
        if name == "baseline" and not want["surge_hours"]:
            continue  # no surge: no baseline to speak of
        assert got[name] == pytest.approx(value), (name, got[name], value)


CAMPAIGN_FIGURES = ("found", "fixed", "closure_rate", "on_time_closure_rate", "target_met")


def _campaign(data: ReportData, tables: Tables, tz: str, now_ms: int) -> None:
    p = data.period
    results = ref_campaigns.campaign_results(tables, tz, now_ms)
    windows = ref_campaigns.campaign_recurrence(tables, tz, now_ms)
    campaigns, _ = ref_campaigns.loaded_calendar(tables)
    want = {}
    for (cid,), row in results.items():
        c = campaigns[cid]
        if c["start_date"] <= p.end and c["end_date"] >= p.start:
            after = {f"after_share_{d}": windows[(cid, d)]["after_share"] for d in (30, 60, 90)}
            want[(cid,)] = {**_pick(row, CAMPAIGN_FIGURES), **after}
    names = (*CAMPAIGN_FIGURES, "after_share_30", "after_share_60", "after_share_90")
    got = [{"campaign_id": r["campaign_id"], **_pick(r, names)} for r in data.sections["campaign"]]
    assert_rows_equal(got, want, ("campaign_id",))


def assert_report_matches(data: ReportData, tables: Tables, tz: str, now_ms: int) -> list[str]:
    """Every section of ``data`` equals the reference over ``tables``; the sections
    checked (the patrol section's views have their own reference tests)."""
    units = reference.case_unit_kpis(tables, tz, now_ms)
    scores = reference.department_scores(units)
    checks = {
        "league": lambda: _league(data, units, scores),
        "streets": lambda: _streets(data, units),
        "trend": lambda: _trend(data, units),
        "intake": lambda: _intake(data, tables, tz),
        "overdue": lambda: _overdue(data, tables, tz),
        "chronic": lambda: _chronic(data, tables, tz),
        "hotspots": lambda: _hotspots(data, tables, tz),
        "surge": lambda: _surge(data, tables, tz),
        "campaign": lambda: _campaign(data, tables, tz, now_ms),
    }
    done = []
    for key in data.sections:
        if key in checks:
            checks[key]()
            done.append(key)
    return done
