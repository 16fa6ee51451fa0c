"""Open311 GeoReport v2: the service list, a POSTed request checked and turned into the
``raw.hotline`` record the hotline intake reads, and a request's view from its case.

A POSTed request is checked by the normalizer the intake runs (same parser, same district,
same time checks) before anything is written: what the api accepts, the intake accepts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from streams.api.http import MEDIA_URL, ApiError, Request
from streams.contracts.reasons import Reason
from streams.intake.normalize import Normalizer
from streams.reference.categories import CategoryTable, ServiceCodeMap

__all__ = [
    "Catalog",
    "RequestCheck",
    "new_request_id",
    "parse_date",
    "parse_fields",
    "request_view",
]

MAX_DESCRIPTION = 4000  # the spec's limit on description
MAX_TEXT = 400  # names, email, phone, address, media_url
_TEXT_FIELDS = (
    "service_code",
    "address_string",
    "address",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
    "jurisdiction_id",
)
# reasons the intake gives that are the client's to fix, and how the api words them
_REJECTIONS = {
    Reason.UNKNOWN_CATEGORY: "service_code is not a service of this district",
    Reason.OUT_OF_DISTRICT: "the position is outside the district",
    Reason.BAD_COORDINATES: "lat/long are not a valid position",
    Reason.UNKNOWN_ADDRESS: "address_string is not an address of the district's gazetteer",
    Reason.MISSING_FIELD: "a required field is missing",
    Reason.WRONG_TYPE: "a field has the wrong type",
}


def new_request_id() -> str:
    """A fresh service_request_id; random, so api replicas never hand out the same one."""
    return f"API-{uuid.uuid4().hex[:20].upper()}"


@dataclass(frozen=True)
class Catalog:
    """The services (Open311 service codes) of the district and their categories."""

    services: dict[str, dict[str, Any]]  # service_code -> its services.json entry
    department: dict[str, str]  # service_code -> department

    @classmethod
    def load(cls, table: CategoryTable) -> Catalog:
        codes = ServiceCodeMap.load(table)
        services: dict[str, dict[str, Any]] = {}
        department: dict[str, str] = {}
        for code, category_id in codes.mapping.items():
            category = table.by_id[category_id]
            services[code] = {
                "service_code": code,
                "service_name": codes.names.get(code, code),
                "description": f"{category.name_en} ({category.name_zh})",
                "metadata": False,
                "type": "realtime",
                "keywords": f"{category.key}, {category.kind}",  # the spec: comma-separated
                "group": category.department,
            }
            department[code] = category.department
        return cls(services, department)

    def definition(self, code: str) -> dict[str, Any]:
        """services/{code}.json: no service here takes extra attributes."""
        if code not in self.services:
            raise ApiError(404, f"service_code {code[:60]!r} is not a service of this district")
        return {"service_code": code, "attributes": []}


def parse_fields(request: Request) -> dict[str, Any]:
    """The POSTed fields, form-encoded (as the spec says) or a JSON object."""
    if request.content_type == "application/json":
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the JSON body must be an object")
        return data
    if request.content_type in ("application/x-www-form-urlencoded", ""):
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "the form is not UTF-8") from None
        return dict(parse_qsl(text, keep_blank_values=True))
    raise ApiError(415, f"content type {request.content_type[:60]!r}: send a form or JSON")


def _text(fields: Mapping[str, Any], name: str, limit: int = MAX_TEXT) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ApiError(400, f"{name} is longer than {limit} characters")
    return value.strip()


def _number(fields: Mapping[str, Any], name: str) -> float | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ApiError(400, f"{name} must be a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):  # a form sends every value as text
        try:
            return float(value)
        except ValueError:
            raise ApiError(400, f"{name} must be a number, got {value[:40]!r}") from None
    raise ApiError(400, f"{name} must be a number, got {type(value).__name__}")


class RequestCheck:
    """POSTed fields to the ``raw.hotline`` record, checked as the intake will check it."""

    def __init__(self, catalog: Catalog, normalizer: Normalizer) -> None:
        # ``normalizer``: one of its own, remembering next to no ids (see service.build):
        # each record is checked once, under a fresh random id
        self.catalog, self.normalizer = catalog, normalizer

    def record(self, fields: Mapping[str, Any], request_id: str, now_ms: int) -> dict[str, Any]:
        for name in _TEXT_FIELDS:
            _text(fields, name, MAX_DESCRIPTION if name == "description" else MAX_TEXT)
        code = _text(fields, "service_code")
        if not code:
            raise ApiError(400, "service_code is required")
        if code not in self.catalog.services:
            raise ApiError(400, f"service_code {code[:60]!r} is not a service of this district")
        lat, lon = _number(fields, "lat"), _number(fields, "long")
        address = _text(fields, "address_string") or _text(fields, "address")
        if (lat is None) != (lon is None):
            raise ApiError(400, "lat and long go together")
        if lat is None and not address:
            detail = " (address_id is not supported)" if fields.get("address_id") else ""
            raise ApiError(400, f"a location is required: lat and long, or address_string{detail}")
        media = _text(fields, "media_url")
        if media and not MEDIA_URL.fullmatch(media):
            raise ApiError(400, "media_url must be an http(s) URL")
        record: dict[str, Any] = {
            "service_request_id": request_id,
            "status": "open",
            "service_code": code,
            "service_name": self.catalog.services[code]["service_name"],
            "description": _text(fields, "description", MAX_DESCRIPTION),
            "requested_datetime": _iso(now_ms),
        }
        if lat is not None:
            record["lat"], record["long"] = lat, lon
        if address:
            record["address"] = address
        if media:
            record["media_url"] = media
        self._check(record, now_ms)
        return record

    def _check(self, record: dict[str, Any], now_ms: int) -> None:
        result = self.normalizer.normalize("hotline", [orjson.dumps(record)], now_ms=now_ms)
        if result.dead_letters:
            dead = result.dead_letters[0]
            said = _REJECTIONS.get(dead.reason)
            if said is None:  # the api built the record: anything else is its own bug
                raise RuntimeError(f"the intake refuses an api record: {dead.reason.value}")
            raise ApiError(400, f"{said}: {dead.message}")


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def request_view(
    record: Mapping[str, Any], case: Mapping[str, Any] | None, notes: str, department: str
) -> dict[str, Any]:
    """A request as GET requests.json shows it: its own fields, then the case it joined."""
    requested = _parse_time(str(record["requested_datetime"]))
    status, updated, expected, agency = "open", requested, None, department
    if case is not None:
        status = "closed" if case["status"] in ("closed", "voided") else "open"
        stamps = [
            case[k]
            for k in (
                "opened_at",
                "dispatched_at",
                "signed_at",
                "handled_at",
                "closed_at",
                "voided_at",
            )
        ]
        updated = max([requested, *stamps])
        expected = case["deadline"] or None
        agency = case["department"] or department
    return {
        "service_request_id": record["service_request_id"],
        "status": status,
        "status_notes": notes,
        "service_name": record.get("service_name", ""),
        "service_code": record["service_code"],
        "description": record.get("description", ""),
        "agency_responsible": agency,
        "service_notice": "",
        "requested_datetime": _iso(requested),
        "updated_datetime": _iso(updated),
        "expected_datetime": _iso(expected),
        "address": record.get("address", ""),
        "address_id": "",
        "zipcode": "",
        "lat": record.get("lat"),
        "long": record.get("long"),
        "media_url": record.get("media_url", ""),
    }


def _parse_time(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def parse_date(query: Mapping[str, str], name: str) -> int | None:
    """A w3c date-time filter (start_date, end_date) in epoch ms."""
    text = query.get(name)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 date-time, got {text[:40]!r}") from None
    if parsed.tzinfo is None:
        raise ApiError(400, f"{name} needs a time zone (e.g. 2026-12-07T09:00:00+08:00)")
    return round(parsed.timestamp() * 1000)
