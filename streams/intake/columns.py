"""The checks both intakes (reports, position pings) run once per batch on numpy columns:
impossible positions, the declared CRS to WGS84, the district's bounds, time skew."""

from __future__ import annotations

import numpy as np

from streams.contracts.reasons import Reason
from streams.reference.geo import CRS, District, bd09_to_wgs84, gcj02_to_wgs84

__all__ = ["POSITION_REASONS", "VECTOR_REASONS", "check_columns", "position_message"]

_CONVERTERS = {CRS.index("gcj02"): gcj02_to_wgs84, CRS.index("bd09"): bd09_to_wgs84}
# Codes of check_columns' reject array.
VECTOR_REASONS: dict[int, Reason] = {
    1: Reason.BAD_COORDINATES,
    2: Reason.OUT_OF_DISTRICT,
    3: Reason.FUTURE_TIME,
    4: Reason.STALE_TIME,
    5: Reason.PLACEHOLDER_POSITION,
}
# the reasons whose message position_message writes
POSITION_REASONS = frozenset(
    (Reason.BAD_COORDINATES, Reason.OUT_OF_DISTRICT, Reason.PLACEHOLDER_POSITION)
)


def check_columns(
    district: District,
    crs: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    t: np.ndarray,
    now: np.ndarray,
    max_age_ms: int,
    max_future_skew_ms: int,
) -> np.ndarray:
    """Per-row code into :data:`VECTOR_REASONS` (0 = fine); converts lat/lon from each
    row's ``crs`` code (an index of ``CRS``) to WGS84 in place."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(lat) & np.isfinite(lon))
        bad |= (np.abs(lat) > 90.0) | (np.abs(lon) > 180.0) | ((lat == 0.0) & (lon == 0.0))
    for code, convert in _CONVERTERS.items():
        mask = (crs == code) & ~bad
        if mask.any():
            lat[mask], lon[mask] = convert(lat[mask], lon[mask])
    reject = np.zeros(len(lat), dtype=np.int8)
    # Assigned from the weakest to the strongest reason: the strongest one wins.
    reject[t < now - max_age_ms] = 4
    reject[t > now + max_future_skew_ms] = 3
    reject[~bad & ~district.contains(lat, lon)] = 2
    if district.placeholders:
        reject[~bad & (district.placeholder_at(lat, lon) >= 0)] = 5
    reject[bad] = 1
    return reject


def position_message(district: District, reason: Reason, lat: float, lon: float) -> str:
    """The dead-letter message of a bad or out-of-district position."""
    d = district
    if reason is Reason.BAD_COORDINATES:
        if lat == 0.0 and lon == 0.0:
            return "lat=0, lon=0 is the placeholder of a missing position (null island)"
        return f"lat={lat!r}, lon={lon!r} is not a position"
    if reason is Reason.PLACEHOLDER_POSITION:
        i = int(d.placeholder_at(np.array([lat]), np.array([lon]))[0])
        p = d.placeholders[i]
        note = f" ({p.note})" if p.note else ""
        return (
            f"WGS84 ({lat:.6f}, {lon:.6f}) is {d.name}'s declared placeholder position "
            f"({p.lat}, {p.lon}){note}: the real position is unknown"
        )
    return (
        f"WGS84 ({lat:.6f}, {lon:.6f}) outside {d.name} "
        f"[{d.lat_min}..{d.lat_max}] x [{d.lon_min}..{d.lon_max}]"
    )
