"""Hotline calls: Open311 GeoReport v2 service requests."""

from __future__ import annotations

from typing import Any

import pytest
from intake_records import NOW_MS, T_EVENT_MS, dead_letter_of, drop, dumps, hotline_request

from streams.contracts.fused import FLAG_REQUEST_UPDATE, Source
from streams.contracts.reasons import Reason
from streams.intake.normalize import Normalizer
from streams.reference.categories import CategoryTable


def test_request_with_coordinates(normalizer: Normalizer, table: CategoryTable) -> None:
    result = normalizer.normalize("hotline", [dumps(hotline_request())], NOW_MS)
    assert result.dead_letters == []
    ev = result.batch.events[0]
    assert ev["source"] == Source.HOTLINE
    assert ev["category"] == table.id_of("E0102")
    assert ev["event_time_ms"] == T_EVENT_MS
    assert (ev["lat"], ev["lon"], ev["device_hash"]) == (35.7402, 114.2911, 0)
    assert result.batch.column("text") == ["路边垃圾堆积"]
    assert result.batch.column("address") == ["淇河路12号"]
    assert result.batch.column("department") == ["sanitation"]


def test_request_located_by_address(normalizer: Normalizer) -> None:
    req = drop(hotline_request(address="华夏南路３号"), "lat", "long")
    ev = normalizer.normalize("hotline", [dumps(req)], NOW_MS).batch.events[0]
    assert (ev["lat"], ev["lon"]) == (35.7120, 114.3050)


def test_naive_time_is_district_local_and_numeric_id_accepted(normalizer: Normalizer) -> None:
    req = hotline_request(service_request_id=12345, requested_datetime="2023-07-31T08:00:00")
    result = normalizer.normalize("hotline", [dumps(req)], NOW_MS)
    assert result.batch.events[0]["event_time_ms"] == T_EVENT_MS
    assert result.batch.column("source_ref") == ["12345"]


def test_utc_time_with_z(normalizer: Normalizer) -> None:
    req = hotline_request(requested_datetime="2023-07-31T00:00:00Z")
    result = normalizer.normalize("hotline", [dumps(req)], NOW_MS)
    assert result.batch.events[0]["event_time_ms"] == T_EVENT_MS


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (drop(hotline_request(), "service_code"), Reason.MISSING_FIELD),
        (drop(hotline_request(), "requested_datetime"), Reason.MISSING_FIELD),
        (drop(hotline_request(), "lat", "long", "address"), Reason.MISSING_FIELD),
        (hotline_request(service_request_id=["x"]), Reason.WRONG_TYPE),
        (hotline_request(lat="35.7"), Reason.WRONG_TYPE),
        (hotline_request(status="pending"), Reason.WRONG_TYPE),
        (hotline_request(description=7), Reason.WRONG_TYPE),
        (hotline_request(service_code="XX-NOPE"), Reason.UNKNOWN_CATEGORY),
        (hotline_request(requested_datetime="31/07/2023 08:00"), Reason.BAD_TIME),
        (drop(hotline_request(address="无名路"), "lat", "long"), Reason.UNKNOWN_ADDRESS),
        (hotline_request(long=200.0), Reason.BAD_COORDINATES),
        (hotline_request(lat=40.71, long=-74.0), Reason.OUT_OF_DISTRICT),
        (hotline_request(requested_datetime="2023-08-02T08:00:00+08:00"), Reason.FUTURE_TIME),
        (hotline_request(requested_datetime="2021-01-01T08:00:00+08:00"), Reason.STALE_TIME),
    ],
)
def test_invalid_requests(normalizer: Normalizer, record: dict[str, Any], reason: Reason) -> None:
    letter = dead_letter_of(normalizer, "hotline", record)
    assert letter.reason is reason
    assert letter.original == dumps(record)


def test_a_request_sent_again_without_an_update_time_is_a_duplicate(
    normalizer: Normalizer,
) -> None:
    first = normalizer.normalize("hotline", [dumps(hotline_request())], NOW_MS)
    again = normalizer.normalize("hotline", [dumps(hotline_request(status="closed"))], NOW_MS)
    assert len(first.batch) == 1 and len(again.batch) == 0
    assert again.dead_letters[0].reason is Reason.DUPLICATE_SOURCE_ID
    assert again.request_updates == []


UPDATED = "2023-07-31T08:40:00+08:00"  # forty minutes after the request


def test_a_republished_request_is_an_update_of_it(normalizer: Normalizer) -> None:
    first = normalizer.normalize("hotline", [dumps(hotline_request())], NOW_MS)
    update = hotline_request(status="closed", status_notes="已派环卫清运", updated_datetime=UPDATED)
    again = normalizer.normalize("hotline", [dumps(update)], NOW_MS + 60_000)
    assert len(first.batch) == 1 and first.request_updates == []
    assert len(again.batch) == 0 and again.dead_letters == []
    [got] = again.request_updates
    assert got.event_id == int(first.batch.events["event_id"][0])
    assert (got.request_id, got.status, got.status_notes) == (
        "HL-20230731-0001",
        "closed",
        "已派环卫清运",
    )
    assert got.updated_at_ms == T_EVENT_MS + 40 * 60_000 and got.received_at_ms == NOW_MS + 60_000
    assert got.update_id == f"HL-20230731-0001@{got.updated_at_ms}"
    # the same update sent twice is the same update (stored once, by update_id)
    twice = normalizer.normalize("hotline", [dumps(update)], NOW_MS + 120_000)
    assert twice.dead_letters == [] and twice.request_updates[0].update_id == got.update_id


def test_an_update_of_a_request_never_seen_is_also_its_report(normalizer: Normalizer) -> None:
    update = hotline_request(status="open", updated_datetime=UPDATED)
    result = normalizer.normalize("hotline", [dumps(update)], NOW_MS)
    assert len(result.batch) == 1 and result.batch.events["flags"][0] & FLAG_REQUEST_UPDATE
    assert len(result.request_updates) == 1
    # an update time not after the request is no update
    same = hotline_request(service_request_id="HL-2", updated_datetime="2023-07-31T08:00:00+08:00")
    plain = normalizer.normalize("hotline", [dumps(same)], NOW_MS)
    assert plain.request_updates == [] and not plain.batch.events["flags"][0] & FLAG_REQUEST_UPDATE
    bad = dead_letter_of(normalizer, "hotline", hotline_request(updated_datetime="soon"))
    assert bad.reason is Reason.BAD_TIME
