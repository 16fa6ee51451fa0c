"""A New York City district description for tests of 311 exports (a city not our own)."""

from __future__ import annotations

from typing import Any

NYC_DISTRICT: dict[str, Any] = {
    "name": "New York City",
    "admin_code": "360000",
    "timezone": "America/New_York",
    "origin": {"lat": 40.71, "lon": -74.0},
    "bounds": {"lat_min": 40.49, "lat_max": 40.92, "lon_min": -74.26, "lon_max": -73.70},
}
