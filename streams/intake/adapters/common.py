"""What every adapter shares: the parse context, the row accumulator, field readers.

Adapters append one row per accepted record to :class:`Rows` (plain python lists, turned
into numpy columns once per batch by the normalizer) and raise :class:`Reject` for a
record that must become a dead letter. Field readers are tiny functions on purpose: they
run once per field per record, so they avoid isinstance chains and allocations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason
from streams.reference.categories import CategoryTable
from streams.reference.geo import District

__all__ = [
    "MAX_EPOCH_MS",
    "ParseContext",
    "RecordAt",
    "Reject",
    "Rows",
    "as_bytes",
    "decode_envelope",
    "opt_str",
    "record_parser",
    "req_num",
    "req_str",
    "run_records",
    "time_ms",
]

MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_NUMBER = (int, float)  # exact classes: bool is excluded on purpose


class Reject(Exception):
    """This record becomes a dead letter with ``reason`` and ``message``."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ParseContext:
    """Everything adapters need to map a record: limits, tables, district."""

    max_payload_bytes: int
    categories: CategoryTable
    district: District
    sensor_map: dict[tuple[str, str], int]  # -> category id, -1 = from the device id
    service_map: dict[str, int]
    component_ids: dict[str, int]  # component code (e.g. "0101") -> category id

    @property
    def tz(self) -> ZoneInfo:
        return self.district.timezone

    @property
    def device_id_len(self) -> int:
        # CJ/T 214: admin area (6) + component code + serial (6)
        return len(self.district.admin_code) + self.categories.code_digits + 6


class Rows:
    """Column lists of accepted records; one append per column per record."""

    __slots__ = (
        "address",
        "category",
        "crs",
        "device_id",
        "flags",
        "index",
        "lat",
        "lon",
        "original",
        "reporter",
        "source_ref",
        "text",
        "time_ms",
    )

    def __init__(self) -> None:
        self.index: list[int] = []  # payload position, for dead letters found later
        self.original: list[bytes] = []
        self.source_ref: list[str] = []
        self.category: list[int] = []
        self.flags: list[int] = []
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.crs: list[int] = []
        self.time_ms: list[int] = []
        self.device_id: list[str] = []
        self.reporter: list[str] = []
        self.text: list[str] = []
        self.address: list[str] = []

    def __len__(self) -> int:
        return len(self.index)

    def add(
        self,
        index: int,
        original: bytes,
        source_ref: str,
        category: int,
        flags: int,
        lat: float,
        lon: float,
        crs: int,
        time_ms: int,
        device_id: str,
        reporter: str,
        text: str,
        address: str,
    ) -> None:
        self.index.append(index)
        self.original.append(original)
        self.source_ref.append(source_ref)
        self.category.append(category)
        self.flags.append(flags)
        self.lat.append(lat)
        self.lon.append(lon)
        self.crs.append(crs)
        self.time_ms.append(time_ms)
        self.device_id.append(device_id)
        self.reporter.append(reporter)
        self.text.append(text)
        self.address.append(address)


def decode_envelope(payload: Any, max_bytes: int) -> dict[str, Any]:
    """Bytes to a JSON object, or Reject with the first envelope problem found."""
    if payload.__class__ is not bytes:
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise Reject(Reason.WRONG_TYPE, f"payload is {type(payload).__name__}, not bytes")
        payload = bytes(payload)
    size = len(payload)
    if size == 0:
        raise Reject(Reason.EMPTY_PAYLOAD, "empty payload")
    if size > max_bytes:
        raise Reject(Reason.OVERSIZE, f"payload of {size} bytes exceeds {max_bytes}")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as uexc:
            raise Reject(Reason.NOT_UTF8, f"payload is not utf-8: {uexc}") from None
        raise Reject(Reason.MALFORMED_JSON, f"malformed JSON: {exc}") from None
    if obj.__class__ is not dict:
        raise Reject(Reason.NOT_AN_OBJECT, f"JSON value is {type(obj).__name__}, not an object")
    return obj


def req_str(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if value.__class__ is str and value:
        return value
    if value is None or value == "":
        raise Reject(Reason.MISSING_FIELD, f"missing field {name!r}")
    raise Reject(Reason.WRONG_TYPE, f"field {name!r} is {type(value).__name__}, not a string")


def opt_str(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if value.__class__ is str:
        return value
    raise Reject(Reason.WRONG_TYPE, f"field {name!r} is {type(value).__name__}, not a string")


def req_num(obj: dict[str, Any], name: str) -> float:
    value = obj.get(name)
    if value.__class__ in _NUMBER:
        return float(value)
    if value is None:
        raise Reject(Reason.MISSING_FIELD, f"missing field {name!r}")
    raise Reject(Reason.WRONG_TYPE, f"field {name!r} is {type(value).__name__}, not a number")


def time_ms(value: Any, name: str, tz: ZoneInfo) -> int:
    """ISO 8601 (naive means the district zone) or integer epoch ms, as UTC epoch ms."""
    if value.__class__ is int:
        if 0 <= value <= MAX_EPOCH_MS:
            return value
        raise Reject(Reason.BAD_TIME, f"{name}={value} is not a plausible epoch in ms")
    if value.__class__ is str:
        try:
            dt = datetime.fromisoformat(value)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=tz)
            ms = round(dt.timestamp() * 1000)
        except (ValueError, OverflowError) as exc:
            raise Reject(Reason.BAD_TIME, f"{name}={value[:64]!r} is not ISO 8601: {exc}") from None
        if 0 <= ms <= MAX_EPOCH_MS:
            return ms
        raise Reject(Reason.BAD_TIME, f"{name}={value[:64]!r} is outside 1970..9999")
    if value is None:
        raise Reject(Reason.MISSING_FIELD, f"missing field {name!r}")
    raise Reject(Reason.WRONG_TYPE, f"field {name!r} is {type(value).__name__}, not a time")


@dataclass(frozen=True, slots=True)
class RecordAt:
    """Where a decoded JSON object came from (its payload and position) and where what it
    yields goes (rows, dead letters), for an adapter's per-record handler."""

    index: int
    payload: bytes
    ctx: ParseContext
    rows: Rows
    dead: list[DeadLetter]


RecordHandler = Callable[[dict[str, Any], RecordAt], None]
Parser = Callable[[Sequence[Any], ParseContext, Rows, list[DeadLetter]], None]


def record_parser(source: str, handle: RecordHandler) -> Parser:
    """An adapter's ``parse(payloads, ctx, rows, dead)``: :func:`run_records` with ``handle``."""

    def parse(
        payloads: Sequence[Any], ctx: ParseContext, rows: Rows, dead: list[DeadLetter]
    ) -> None:
        """Append the rows of ``payloads`` to ``rows``; bad records go to ``dead``."""
        run_records(source, payloads, ctx, rows, dead, handle)

    return parse


def run_records(
    source: str,
    payloads: Sequence[Any],
    ctx: ParseContext,
    rows: Rows,
    dead: list[DeadLetter],
    handle: RecordHandler,
) -> None:
    """The shared loop: envelope checks, then ``handle`` per JSON object."""
    max_bytes = ctx.max_payload_bytes
    for i, payload in enumerate(payloads):
        try:
            obj = decode_envelope(payload, max_bytes)
            handle(obj, RecordAt(i, payload, ctx, rows, dead))
        except Reject as rej:
            dead.append(DeadLetter(source, rej.reason, rej.message, as_bytes(payload), index=i))
        except Exception as exc:  # see Reason.INTERNAL_ERROR
            dead.append(
                DeadLetter(source, Reason.INTERNAL_ERROR, repr(exc), as_bytes(payload), index=i)
            )


def as_bytes(payload: Any) -> bytes:
    """A payload as a dead letter's original: its bytes, or its repr if it is not bytes."""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    return repr(payload).encode()
