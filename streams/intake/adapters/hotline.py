"""Hotline calls (``raw.hotline``): Open311 GeoReport v2 service requests.

Field names are the spec's. A request is located by ``lat`` + ``long`` (WGS84 per the
spec) or, failing those, by ``address`` through the district gazetteer. The category comes
from ``service_code`` through ``open311_service_map.csv``. A request published again with
an update (``updated_datetime`` after ``requested_datetime``: a new status or notes) is
flagged ``FLAG_REQUEST_UPDATE``; the normalizer turns it into a request update
(``hotline.updates``) rather than a duplicate. The same request sent again unchanged is
still a duplicate source id.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.contracts.fused import FLAG_REQUEST_UPDATE
from streams.contracts.reasons import Reason
from streams.contracts.sources import Source
from streams.intake.adapters.common import (
    ParseContext,
    RecordAt,
    Reject,
    opt_str,
    record_parser,
    req_str,
    time_ms,
)

__all__ = ["SOURCE", "STATUSES", "parse", "update_fields"]

SOURCE = Source.HOTLINE.label
STATUSES = ("open", "closed")
_NUMBER = (int, float)


def _request_id(r: dict[str, Any]) -> str:
    value = r.get("service_request_id")
    # Many Open311 servers send numeric ids; they name the same request as the string.
    if value.__class__ is int:
        return str(value)
    return req_str(r, "service_request_id")


def _position(r: dict[str, Any], address: str, ctx: ParseContext) -> tuple[float, float]:
    lat, lon = r.get("lat"), r.get("long")
    if lat is not None and lon is not None:
        if lat.__class__ in _NUMBER and lon.__class__ in _NUMBER:
            return float(lat), float(lon)
        raise Reject(
            Reason.WRONG_TYPE,
            f"lat/long are {type(lat).__name__}/{type(lon).__name__}, not numbers",
        )
    if not address:
        raise Reject(Reason.MISSING_FIELD, "no location: needs 'lat' and 'long', or 'address'")
    found = ctx.district.lookup_address(address)
    if found is None:
        raise Reject(
            Reason.UNKNOWN_ADDRESS, f"address {address[:80]!r} {ctx.district.gazetteer_note()}"
        )
    return found


def _request(r: dict[str, Any], at: RecordAt) -> None:
    index, payload, ctx, rows = at.index, at.payload, at.ctx, at.rows
    ref = _request_id(r)
    code = req_str(r, "service_code")
    status = opt_str(r, "status")
    if status and status not in STATUSES:
        raise Reject(Reason.WRONG_TYPE, f"status {status[:20]!r} is not one of {STATUSES}")
    category = ctx.service_map.get(code)
    if category is None:
        raise Reject(Reason.UNKNOWN_CATEGORY, f"service_code {code[:40]!r} is not mapped")
    requested = r.get("requested_datetime")
    if requested is None:
        raise Reject(Reason.MISSING_FIELD, "missing field 'requested_datetime'")
    t = time_ms(requested, "requested_datetime", ctx.tz)
    updated = r.get("updated_datetime")
    update = updated is not None and time_ms(updated, "updated_datetime", ctx.tz) > t
    address = opt_str(r, "address")
    lat, lon = _position(r, address, ctx)
    text = opt_str(r, "description")
    agency = opt_str(r, "agency_responsible")
    flags = FLAG_REQUEST_UPDATE if update else 0
    rows.add(index, payload, ref, category, flags, lat, lon, 0, t, "", agency, text, address)


parse = record_parser(SOURCE, _request)


def update_fields(payload: bytes, ctx: ParseContext) -> tuple[str, str, str, int]:
    """``(status, status_notes, description, updated_at_ms)`` of a record :func:`parse`
    accepted and flagged ``FLAG_REQUEST_UPDATE`` (so these fields are valid)."""
    r = orjson.loads(payload)
    updated = time_ms(r["updated_datetime"], "updated_datetime", ctx.tz)
    return opt_str(r, "status"), opt_str(r, "status_notes"), opt_str(r, "description"), updated
