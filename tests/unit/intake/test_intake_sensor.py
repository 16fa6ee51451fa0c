"""Sensor alarms: single alarms and gateway batches."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from intake_records import NOW_MS, T_EVENT_MS, dead_letter_of, drop, dumps, sensor_alarm

from streams.contracts.fused import Source, device_hash, event_id_for
from streams.contracts.reasons import Reason
from streams.intake.normalize import Normalizer
from streams.reference.categories import CategoryTable


def test_valid_alarm_becomes_one_event(normalizer: Normalizer, table: CategoryTable) -> None:
    result = normalizer.normalize("sensor", [dumps(sensor_alarm())], NOW_MS)
    assert result.dead_letters == []
    ev = result.batch.events[0]
    assert ev["event_id"] == event_id_for("sensor", "GW03-0000123")
    assert ev["source"] == Source.SENSOR
    assert ev["category"] == table.id_of("C0101")  # the device id codes component 0101
    assert (ev["lat"], ev["lon"]) == (35.7331, 114.2972)
    assert ev["event_time_ms"] == T_EVENT_MS and ev["ingest_time_ms"] == NOW_MS
    assert ev["device_hash"] == device_hash("4106110101000123")
    assert result.batch.column("device_id") == ["4106110101000123"]
    assert result.batch.column("department") == ["municipal"]
    assert result.batch.column("text") == ['cover_tilt {"tilt_deg":21.5}']


def test_mapped_alarm_and_iso_time(normalizer: Normalizer, table: CategoryTable) -> None:
    alarm = sensor_alarm(
        device_id="4106110118000007",
        device_type="smart_pole",
        alarm_type="light_failure",
        ts="2023-07-31T08:00:00+08:00",
        readings=None,
    )
    ev = normalizer.normalize("sensor", [dumps(alarm)], NOW_MS).batch.events[0]
    assert ev["category"] == table.id_of("C0118")
    assert ev["event_time_ms"] == T_EVENT_MS


def test_gateway_batch_dead_letters_only_the_bad_alarm(normalizer: Normalizer) -> None:
    bad = sensor_alarm(alarm_id="A2", lat="north")
    batch = {
        "gateway_id": "GW07",
        "alarms": [sensor_alarm(alarm_id="A1"), bad, sensor_alarm(alarm_id="A3"), 42],
    }
    result = normalizer.normalize("sensor", [dumps(batch)], NOW_MS)
    assert result.batch.column("source_ref") == ["A1", "A3"]
    assert result.batch.column("reporter") == ["GW07", "GW07"]
    reasons = [d.reason for d in result.dead_letters]
    assert reasons == [Reason.WRONG_TYPE, Reason.NOT_AN_OBJECT]
    assert orjson.loads(result.dead_letters[0].original) == bad
    assert result.dead_letters[1].original == b"42"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (drop(sensor_alarm(), "alarm_id"), Reason.MISSING_FIELD),
        (drop(sensor_alarm(), "lat"), Reason.MISSING_FIELD),
        (drop(sensor_alarm(), "ts"), Reason.MISSING_FIELD),
        (sensor_alarm(device_id=4106110101000123), Reason.WRONG_TYPE),
        (sensor_alarm(lon=True), Reason.WRONG_TYPE),
        (sensor_alarm(ts=1.69e12), Reason.WRONG_TYPE),
        (sensor_alarm(readings=[1, 2]), Reason.WRONG_TYPE),
        (sensor_alarm(device_type="toaster"), Reason.UNKNOWN_DEVICE_TYPE),
        (sensor_alarm(device_id="41061101010001"), Reason.BAD_DEVICE_ID),
        (sensor_alarm(device_id="3205080101000001"), Reason.BAD_DEVICE_ID),  # other district
        (sensor_alarm(device_id="41061101O1000123"), Reason.BAD_DEVICE_ID),
        (sensor_alarm(alarm_type="smoke"), Reason.UNKNOWN_CATEGORY),
        (sensor_alarm(device_id="4106119999000001"), Reason.UNKNOWN_CATEGORY),
        (sensor_alarm(ts=-5), Reason.BAD_TIME),
        (sensor_alarm(ts="yesterday"), Reason.BAD_TIME),
        (sensor_alarm(lat=95.0), Reason.BAD_COORDINATES),
        (sensor_alarm(lat=0, lon=0), Reason.BAD_COORDINATES),
        (sensor_alarm(lat=31.23, lon=121.47), Reason.OUT_OF_DISTRICT),
        (sensor_alarm(ts=NOW_MS + 3_600_000), Reason.FUTURE_TIME),
        (sensor_alarm(ts=NOW_MS - 500 * 86_400_000), Reason.STALE_TIME),
        ({"gateway_id": "GW1", "alarms": {}}, Reason.WRONG_TYPE),
        ({"gateway_id": "GW1", "alarms": []}, Reason.MISSING_FIELD),
        ({"alarms": [sensor_alarm()]}, Reason.MISSING_FIELD),
    ],
)
def test_invalid_alarms(normalizer: Normalizer, record: dict[str, Any], reason: Reason) -> None:
    letter = dead_letter_of(normalizer, "sensor", record)
    assert letter.reason is reason
    assert letter.message
    assert normalizer.reasons[reason] == 1
