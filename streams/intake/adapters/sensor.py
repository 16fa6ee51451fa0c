"""Sensor alarms (``raw.sensor``): one alarm, or a gateway batch of alarms.

A gateway batch yields one row per good alarm; a bad alarm inside it dead-letters only
itself, with its own JSON as the original bytes. Sensor positions are WGS84 (device GPS
or surveyed installation points). The category comes from (alarm_type, device_type)
through ``sensor_alarm_map.csv``; ``@component`` there means the component code inside
the CJ/T 214 device id (admin area + component code + serial) names the category.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason
from streams.contracts.sources import Source
from streams.intake.adapters.common import (
    ParseContext,
    RecordAt,
    Reject,
    Rows,
    opt_str,
    record_parser,
    req_num,
    req_str,
    time_ms,
)
from streams.reference.categories import DEVICE_TYPES

__all__ = ["SOURCE", "parse"]

SOURCE = Source.SENSOR.label
_DEVICE_TYPES = frozenset(DEVICE_TYPES)


def _parse_payload(obj: dict[str, Any], at: RecordAt) -> None:
    index, payload, ctx, rows, dead = at.index, at.payload, at.ctx, at.rows, at.dead
    alarms = obj.get("alarms")
    if alarms is None:
        _alarm(obj, index, payload, "", ctx, rows)
        return
    if alarms.__class__ is not list:
        raise Reject(Reason.WRONG_TYPE, f"'alarms' is {type(alarms).__name__}, not a list")
    gateway = req_str(obj, "gateway_id")
    if not alarms:
        raise Reject(Reason.MISSING_FIELD, f"gateway batch from {gateway} has no alarms")
    for alarm in alarms:
        original = b""
        try:
            original = orjson.dumps(alarm)
            if alarm.__class__ is not dict:
                raise Reject(Reason.NOT_AN_OBJECT, f"alarm is {type(alarm).__name__}")
            _alarm(alarm, index, original, gateway, ctx, rows)
        except Reject as rej:
            dead.append(DeadLetter(SOURCE, rej.reason, rej.message, original, index=index))
        except Exception as exc:  # see Reason.INTERNAL_ERROR
            dead.append(DeadLetter(SOURCE, Reason.INTERNAL_ERROR, repr(exc), original, index=index))


def _alarm(
    a: dict[str, Any], index: int, original: bytes, gateway: str, ctx: ParseContext, rows: Rows
) -> None:
    alarm_id = req_str(a, "alarm_id")
    device_id = req_str(a, "device_id")
    device_type = req_str(a, "device_type")
    alarm_type = req_str(a, "alarm_type")
    if device_type not in _DEVICE_TYPES:
        raise Reject(Reason.UNKNOWN_DEVICE_TYPE, f"device_type {device_type[:40]!r} unknown")
    prefix = ctx.district.admin_code
    if (
        len(device_id) != ctx.device_id_len
        or not device_id.isascii()
        or not device_id.isdigit()
        or not device_id.startswith(prefix)
    ):
        raise Reject(
            Reason.BAD_DEVICE_ID,
            f"device_id {device_id[:40]!r} is not {ctx.device_id_len} digits starting {prefix}",
        )
    category = ctx.sensor_map.get((alarm_type, device_type))
    if category is None:
        raise Reject(
            Reason.UNKNOWN_CATEGORY,
            f"no category for alarm_type {alarm_type[:40]!r} on a {device_type}",
        )
    if category < 0:
        code = device_id[len(prefix) : len(prefix) + ctx.categories.code_digits]
        category = ctx.component_ids.get(code, -1)
        if category < 0:
            raise Reject(
                Reason.UNKNOWN_CATEGORY,
                f"device {device_id} codes component {code}, not in the category table",
            )
    lat = req_num(a, "lat")
    lon = req_num(a, "lon")
    t = time_ms(a.get("ts"), "ts", ctx.tz)
    readings = a.get("readings")
    if readings is None:
        text = alarm_type
    elif readings.__class__ is dict:
        text = f"{alarm_type} {orjson.dumps(readings).decode()}"
    else:
        raise Reject(Reason.WRONG_TYPE, f"'readings' is {type(readings).__name__}, not an object")
    reporter = gateway or opt_str(a, "gateway_id")
    rows.add(index, original, alarm_id, category, 0, lat, lon, 0, t, device_id, reporter, text, "")


parse = record_parser(SOURCE, _parse_payload)
