"""Bad records: how a good raw record is damaged, and the dead-letter reason that must follow.

Every kind is named by the :class:`~streams.contracts.reasons.Reason` the normalizer must give
it, so the truth file can be checked record by record. ``DUPLICATE_SOURCE_ID`` is not a
damage of the record at hand: the encoder re-sends an earlier good record instead.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson

from streams.contracts.reasons import Reason
from streams.simulator.geo import to_declared_crs
from streams.simulator.names import GAZETTEER_MISSES

__all__ = [
    "COMMON_KINDS",
    "ELSEWHERE",
    "SOURCE_KINDS",
    "UNPARSEABLE_TIMES",
    "corrupt",
    "kinds_for",
]

COMMON_KINDS: tuple[Reason, ...] = (
    Reason.EMPTY_PAYLOAD,
    Reason.OVERSIZE,
    Reason.NOT_UTF8,
    Reason.MALFORMED_JSON,
    Reason.NOT_AN_OBJECT,
    Reason.MISSING_FIELD,
    Reason.WRONG_TYPE,
    Reason.BAD_COORDINATES,
    Reason.OUT_OF_DISTRICT,
    Reason.BAD_TIME,
    Reason.FUTURE_TIME,
    Reason.STALE_TIME,
    Reason.UNKNOWN_CATEGORY,
    Reason.DUPLICATE_SOURCE_ID,
)
SOURCE_KINDS: dict[str, tuple[Reason, ...]] = {
    "sensor": (Reason.UNKNOWN_DEVICE_TYPE, Reason.BAD_DEVICE_ID),
    "hotline": (Reason.UNKNOWN_ADDRESS,),
    "patrol": (Reason.UNKNOWN_CRS,),
}

TIME_FIELD = {"sensor": "ts", "hotline": "requested_datetime", "patrol": "ts"}
LAT_LON = {"sensor": ("lat", "lon"), "hotline": ("lat", "long"), "patrol": ("lat", "lon")}
CATEGORY_FIELD = {"sensor": "alarm_type", "hotline": "service_code", "patrol": "category"}
TEXT_FIELD = {"hotline": "description", "patrol": "note"}
REQUIRED = {
    "sensor": ("alarm_id", "device_id", "alarm_type", "ts"),
    "hotline": ("service_request_id", "service_code", "requested_datetime"),
    "patrol": ("report_id", "category", "ts"),
}
# Real places outside the district: Zhengzhou, Anyang, Xinxiang, Hebi Shancheng district.
ELSEWHERE = ((34.7466, 113.6254), (36.0976, 114.3926), (35.3030, 113.9268), (35.8970, 114.1840))
FUTURE_MS, STALE_MS = 4_070_908_800_000, 978_307_200_000  # 2099-01-01, 2001-01-01 (UTC)
UNPARSEABLE_TIMES = ("31/07/2023 08:15", "2023年07月31日 08时15分", "2023-07-31T25:61:00+08:00")
UNKNOWN_CODES = {"sensor": "unknown_alarm_77", "hotline": "XX-NOPE", "patrol": "E9999"}


def kinds_for(source: str) -> tuple[Reason, ...]:
    """The bad kinds a record of ``source`` can be turned into."""
    return COMMON_KINDS + SOURCE_KINDS[source]


def _dump(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def _coords(source: str, obj: dict[str, Any], lat: Any, lon: Any) -> None:
    lat_f, lon_f = LAT_LON[source]
    obj[lat_f], obj[lon_f] = lat, lon
    obj.pop("address", None)  # so the coordinates are the only location


def _envelope(
    reason: Reason, source: str, obj: dict[str, Any], rng: random.Random, max_payload: int
) -> tuple[bytes, str] | None:
    """Damages of the bytes themselves (before any field is read)."""
    if reason is Reason.EMPTY_PAYLOAD:
        return b"", "empty payload"
    if reason is Reason.OVERSIZE:
        pad = "x" * (max_payload + rng.randint(1, 4096))
        if source == "sensor":
            obj["readings"] = {**obj["readings"], "trace": pad}
        else:
            obj[TEXT_FIELD[source]] = obj[TEXT_FIELD[source]] + pad
        return _dump(obj), f"padded beyond {max_payload} bytes"
    if reason is Reason.NOT_UTF8:
        if source == "sensor":  # ascii only: splice invalid bytes into a string
            raw = _dump(obj).replace(b'"alarm_id":"', b'"alarm_id":"\xff\xfe', 1)
            return raw, "invalid utf-8 bytes in alarm_id"
        return _dump(obj).decode("utf-8").encode("gbk"), "GBK-encoded payload"
    if reason is Reason.MALFORMED_JSON:
        text = orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode("utf-8")
        cut = int(len(text) * rng.uniform(0.4, 0.9))
        return text[:cut].encode("utf-8"), f"pretty-printed JSON truncated at {cut} chars"
    if reason is Reason.NOT_AN_OBJECT:
        return b"[" + _dump(obj) + b"]", "JSON array around the record"
    return None


def corrupt(
    reason: Reason, source: str, obj: dict[str, Any], rng: random.Random, max_payload: int
) -> tuple[bytes, str]:
    """The bytes of ``obj`` (a good record, modified in place) damaged as ``reason``."""
    done = _envelope(reason, source, obj, rng, max_payload)
    if done is not None:
        return done
    lat_f, lon_f = LAT_LON[source]
    if reason is Reason.MISSING_FIELD:
        name = rng.choice(REQUIRED[source])
        del obj[name]
        detail = f"dropped {name}"
    elif reason is Reason.WRONG_TYPE:
        lat, lon = obj.get(lat_f) or 35.73, obj.get(lon_f) or 114.29
        _coords(source, obj, {"deg": lat}, lon)
        detail = f"{lat_f} is an object"
    elif reason is Reason.BAD_COORDINATES:
        lat, lon = obj.get(lat_f) or 35.73, obj.get(lon_f) or 114.29
        bad = rng.choice(((lon, lat), (lat + 60.0, lon), (lat, lon + 70.0)))
        _coords(source, obj, round(bad[0], 6), round(bad[1], 6))
        detail = f"impossible position {bad[0]:.4f},{bad[1]:.4f}"
    elif reason is Reason.OUT_OF_DISTRICT:
        lat, lon = rng.choice(ELSEWHERE)
        if source == "patrol":
            lat, lon = to_declared_crs(obj["crs"], lat, lon)
        _coords(source, obj, round(lat, 6), round(lon, 6))
        detail = f"position {lat:.4f},{lon:.4f} outside the district"
    elif reason in (Reason.BAD_TIME, Reason.FUTURE_TIME, Reason.STALE_TIME):
        detail = _damage_time(reason, source, obj, rng)
    else:
        detail = _damage_codes(reason, source, obj, rng)
    return _dump(obj), detail


def _damage_time(reason: Reason, source: str, obj: dict[str, Any], rng: random.Random) -> str:
    name = TIME_FIELD[source]
    if reason is Reason.FUTURE_TIME:
        obj[name] = _iso_or_ms(source, FUTURE_MS + rng.randrange(86_400_000))
        return f"{name} in 2099"
    if reason is Reason.STALE_TIME:
        obj[name] = _iso_or_ms(source, STALE_MS + rng.randrange(86_400_000))
        return f"{name} in 2001"
    obj[name] = rng.choice(UNPARSEABLE_TIMES)
    return f"{name} unparseable"


def _iso_or_ms(source: str, ms: int) -> Any:
    if source == "sensor":
        return ms
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _damage_codes(reason: Reason, source: str, obj: dict[str, Any], rng: random.Random) -> str:
    if reason is Reason.UNKNOWN_CATEGORY:
        obj[CATEGORY_FIELD[source]] = UNKNOWN_CODES[source]
        return f"{CATEGORY_FIELD[source]} unknown"
    if reason is Reason.UNKNOWN_DEVICE_TYPE:
        obj["device_type"] = rng.choice(("drone", "weather_station"))
        return "device_type unknown"
    if reason is Reason.BAD_DEVICE_ID:
        good = obj["device_id"]
        obj["device_id"] = rng.choice((good[:8], good[:3] + "O" + good[4:]))
        return f"device_id {obj['device_id']!r} malformed"
    if reason is Reason.UNKNOWN_ADDRESS:
        obj.pop("lat", None)
        obj.pop("long", None)
        obj["address"] = rng.choice(GAZETTEER_MISSES)
        return f"address {obj['address']} not in the gazetteer"
    if reason is Reason.UNKNOWN_CRS:
        obj["crs"] = rng.choice(("cgcs2000", "epsg:3857", "utm50n"))
        return f"crs {obj['crs']}"
    raise ValueError(f"{reason} is not a damage of a single record")
