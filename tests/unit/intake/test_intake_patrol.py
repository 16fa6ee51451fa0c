"""Patrol reports: declared coordinate systems, categories, fixed-on-the-spot flag."""

from __future__ import annotations

from typing import Any

import pytest
from intake_records import NOW_MS, dead_letter_of, drop, dumps, patrol_report

from streams.contracts.fused import FLAG_FIXED_ON_SPOT, Source
from streams.contracts.reasons import Reason
from streams.intake.normalize import Normalizer
from streams.reference import geo
from streams.reference.categories import CategoryTable

_WGS = (35.7331, 114.2972)


def test_wgs84_report(normalizer: Normalizer, table: CategoryTable) -> None:
    result = normalizer.normalize("patrol", [dumps(patrol_report())], NOW_MS)
    ev = result.batch.events[0]
    assert ev["source"] == Source.PATROL
    assert ev["category"] == table.id_of("E0102")
    assert ev["flags"] & FLAG_FIXED_ON_SPOT
    assert (ev["lat"], ev["lon"]) == _WGS
    assert ev["event_time_ms"] == NOW_MS - 48 * 60_000
    assert result.batch.column("reporter") == ["INS-017"]
    assert result.batch.column("text") == ["清理完毕"]


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_declared_crs_is_converted_to_wgs84(normalizer: Normalizer, crs: str) -> None:
    lat, lon = geo.wgs84_to_gcj02(*_WGS)
    if crs == "bd09":
        lat, lon = geo.gcj02_to_bd09(lat, lon)
    report = patrol_report(crs=crs, lat=float(lat), lon=float(lon), fixed_on_spot=False)
    ev = normalizer.normalize("patrol", [dumps(report)], NOW_MS).batch.events[0]
    assert ev["lat"] == pytest.approx(_WGS[0], abs=2e-6)  # ~0.2 m
    assert ev["lon"] == pytest.approx(_WGS[1], abs=2e-6)
    assert not ev["flags"] & FLAG_FIXED_ON_SPOT


def test_mixed_crs_batch_converts_each_row_once(normalizer: Normalizer) -> None:
    g_lat, g_lon = geo.wgs84_to_gcj02(*_WGS)
    reports = [
        patrol_report(report_id="a"),
        patrol_report(report_id="b", crs="gcj02", lat=float(g_lat), lon=float(g_lon)),
        patrol_report(report_id="c"),
    ]
    ev = normalizer.normalize("patrol", [dumps(r) for r in reports], NOW_MS).batch.events
    assert ev["lat"] == pytest.approx([_WGS[0]] * 3, abs=2e-6)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (drop(patrol_report(), "report_id"), Reason.MISSING_FIELD),
        (drop(patrol_report(), "crs"), Reason.MISSING_FIELD),
        (drop(patrol_report(), "ts"), Reason.MISSING_FIELD),
        (patrol_report(inspector_id=""), Reason.MISSING_FIELD),
        (patrol_report(fixed_on_spot="yes"), Reason.WRONG_TYPE),
        (patrol_report(department=3), Reason.WRONG_TYPE),
        (patrol_report(crs="utm50n"), Reason.UNKNOWN_CRS),
        (patrol_report(category="E9999"), Reason.UNKNOWN_CATEGORY),
        (patrol_report(ts="2023-13-45T99:00:00"), Reason.BAD_TIME),
        (patrol_report(lat=1e308, lon=1e308), Reason.BAD_COORDINATES),
        (patrol_report(lat=35.0, lon=113.0), Reason.OUT_OF_DISTRICT),
        (patrol_report(ts="2023-07-31T09:30:00+08:00"), Reason.FUTURE_TIME),
        (patrol_report(ts="2020-07-31T09:00:00+08:00"), Reason.STALE_TIME),
    ],
)
def test_invalid_reports(normalizer: Normalizer, record: dict[str, Any], reason: Reason) -> None:
    assert dead_letter_of(normalizer, "patrol", record).reason is reason
