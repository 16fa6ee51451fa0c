"""Record builders for the intake tests (valid raw records with one field changed), and
the dead letter a bad one becomes."""

from __future__ import annotations

from typing import Any

import orjson

from streams.contracts.deadletter import DeadLetter
from streams.intake.normalize import Normalizer

# 2023-07-31T09:00:00+08:00: the Doksuri typhoon week; tests run "now" at this instant.
NOW_MS = 1_690_765_200_000
T_EVENT_MS = NOW_MS - 3_600_000  # one hour before now


def sensor_alarm(**changes: Any) -> dict[str, Any]:
    alarm = {
        "alarm_id": "GW03-0000123",
        "device_id": "4106110101000123",
        "device_type": "manhole_cover",
        "alarm_type": "cover_tilt",
        "lat": 35.7331,
        "lon": 114.2972,
        "ts": T_EVENT_MS,
        "readings": {"tilt_deg": 21.5},
    }
    alarm.update(changes)
    return alarm


def hotline_request(**changes: Any) -> dict[str, Any]:
    req = {
        "service_request_id": "HL-20230731-0001",
        "status": "open",
        "service_code": "SW-GARB",
        "service_name": "exposed garbage",
        "description": "路边垃圾堆积",
        "requested_datetime": "2023-07-31T08:00:00+08:00",
        "address": "淇河路12号",
        "lat": 35.7402,
        "long": 114.2911,
        "agency_responsible": "sanitation",
        "media_url": "",
    }
    req.update(changes)
    return req


def patrol_report(**changes: Any) -> dict[str, Any]:
    rep = {
        "report_id": "P20230731-0042",
        "inspector_id": "INS-017",
        "department": "sanitation",
        "category": "E0102",
        "lat": 35.7331,
        "lon": 114.2972,
        "crs": "wgs84",
        "ts": "2023-07-31T08:12:00+08:00",
        "fixed_on_spot": True,
        "note": "清理完毕",
        "photos": ["p/2023/07/31/0042-1.jpg"],
    }
    rep.update(changes)
    return rep


def drop(record: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in names}


def dumps(record: Any) -> bytes:
    return orjson.dumps(record)


def dead_letter_of(normalizer: Normalizer, source: str, record: Any) -> DeadLetter:
    """The one dead letter a single bad ``record`` of ``source`` becomes; it yields no row."""
    result = normalizer.normalize(source, [dumps(record)], NOW_MS)
    assert len(result.batch) == 0
    assert len(result.dead_letters) == 1, result.dead_letters
    return result.dead_letters[0]
