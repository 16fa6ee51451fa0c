"""Patrol reports (``raw.patrol``) from inspectors' mobile terminals.

The terminal declares its coordinate system in ``crs`` (wgs84 | gcj02 | bd09); the
normalizer converts whole columns to WGS84 at once. ``category`` is a table key such as
``E0102``; ``fixed_on_spot`` sets flag bit 0.
"""

from __future__ import annotations

from typing import Any

from streams.contracts.fused import FLAG_FIXED_ON_SPOT
from streams.contracts.reasons import Reason
from streams.contracts.sources import Source
from streams.intake.adapters.common import (
    RecordAt,
    Reject,
    opt_str,
    record_parser,
    req_num,
    req_str,
    time_ms,
)
from streams.reference.geo import CRS

__all__ = ["SOURCE", "parse"]

SOURCE = Source.PATROL.label
_CRS_CODE = {name: i for i, name in enumerate(CRS)}


def _report(r: dict[str, Any], at: RecordAt) -> None:
    index, payload, ctx, rows = at.index, at.payload, at.ctx, at.rows
    ref = req_str(r, "report_id")
    inspector = req_str(r, "inspector_id")
    key = req_str(r, "category")
    cat = ctx.categories.by_key.get(key)
    if cat is None:
        raise Reject(Reason.UNKNOWN_CATEGORY, f"category {key[:40]!r} is not in the table")
    crs_name = req_str(r, "crs")
    crs = _CRS_CODE.get(crs_name)
    if crs is None:
        raise Reject(Reason.UNKNOWN_CRS, f"crs {crs_name[:20]!r} is not one of {CRS}")
    lat = req_num(r, "lat")
    lon = req_num(r, "lon")
    t = time_ms(r.get("ts"), "ts", ctx.tz)
    fixed = r.get("fixed_on_spot", False)
    if fixed.__class__ is not bool:
        raise Reject(Reason.WRONG_TYPE, f"'fixed_on_spot' is {type(fixed).__name__}, not bool")
    opt_str(r, "department")  # type-checked only: dispatch routes by category
    note = opt_str(r, "note")
    flags = FLAG_FIXED_ON_SPOT if fixed else 0
    rows.add(index, payload, ref, cat.id, flags, lat, lon, crs, t, "", inspector, note, "")


parse = record_parser(SOURCE, _report)
