"""The packaged cities (streams/data/cities): each one's category table, service map and 311
mapping load, and an export in each of its layouts (API names, web download) is accepted."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from export_layouts import LAYOUTS, Layout, write_export

from streams.intake.adapters.csv311 import Csv311Mapping, read_csv311
from streams.intake.normalize import Normalizer, NormalizerConfig
from streams.reference.categories import CategoryTable, SensorAlarmMap, ServiceCodeMap
from streams.reference.data import CITIES_DIR
from streams.reference.geo import District

# (lat, lon) well inside each city, and its bounds
_CITIES: dict[str, tuple[tuple[float, float], dict[str, float]]] = {
    "nyc": ((40.7081, -74.0110), {"lat_min": 40.49, "lat_max": 40.92, "lon_min": -74.26,
                                  "lon_max": -73.70}),
    "chicago": ((41.8810, -87.6298), {"lat_min": 41.64, "lat_max": 42.03, "lon_min": -87.94,
                                      "lon_max": -87.52}),
    "boston": ((42.3496, -71.0746), {"lat_min": 42.22, "lat_max": 42.40, "lon_min": -71.20,
                                     "lon_max": -70.98}),
    "baltimore": ((39.2904, -76.6122), {"lat_min": 39.19, "lat_max": 39.38, "lon_min": -76.72,
                                        "lon_max": -76.52}),
}  # fmt: skip


def _table(city: str) -> CategoryTable:
    return CategoryTable.load(CITIES_DIR / city / "categories.csv")


def test_every_packaged_city_is_complete() -> None:
    assert sorted(p.name for p in CITIES_DIR.iterdir()) == sorted(_CITIES)
    for city in _CITIES:
        table = _table(city)
        services = ServiceCodeMap.load(table)  # every key it names is in the table
        assert SensorAlarmMap.load(table).mapping == {}  # no sensors in a 311 export
        mapping = Csv311Mapping.load(city)
        assert mapping.path == CITIES_DIR / city / "csv311_mapping.json"
        used = set(services.mapping.values())
        assert used == set(table.by_id), f"{city}: a category no service code reaches"
    assert len(ServiceCodeMap.load(_table("nyc")).mapping) >= 50


def _rows(layout: Layout, codes: list[str]) -> list[dict[str, str]]:
    (lat, lon) = _CITIES[layout.city][0]
    closed = next(k for k, v in Csv311Mapping.load(layout.city).status_map.items() if v == "closed")
    return [
        {
            "id": f"{layout.city[:3].upper()}-{i:06d}",
            "time": datetime(2024, 4, 2, 1, i % 60).strftime(layout.time_format),
            "type": code,
            "lat": f"{lat + i % 10 * 0.002:.6f}",  # 200 m apart on a grid
            "lon": f"{lon + i // 10 * 0.002:.6f}",
            "status": closed,
        }
        for i, code in enumerate(codes)
    ]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda x: f"{x.city}-{x.variant}")
def test_each_layout_of_each_city_is_accepted(layout: Layout, tmp_path: Path) -> None:
    """Every service code the city maps, one record each, read in this layout, is one
    event of the code's category: no unknown category, no bad time, no other dead letter."""
    table = _table(layout.city)
    services = ServiceCodeMap.load(table)
    codes = sorted(services.mapping)
    path = write_export(tmp_path / "export.csv", layout, _rows(layout, codes))
    records = list(read_csv311(path, Csv311Mapping.load(layout.city)))
    assert [r.ref for r in records] == [
        f"{layout.city[:3].upper()}-{i:06d}" for i in range(len(codes))
    ]
    assert all(r.event_ms is not None for r in records)
    first: dict[str, Any] = orjson.loads(records[0].value)
    assert first["status"] == "closed"
    assert first["requested_datetime"].startswith("2024-04-0")
    spec = {"name": layout.city, "admin_code": "000000", "timezone": "UTC",
            "origin": {"lat": _CITIES[layout.city][0][0], "lon": _CITIES[layout.city][0][1]},
            "bounds": _CITIES[layout.city][1]}  # fmt: skip
    (tmp_path / "d.json").write_bytes(orjson.dumps(spec))
    normalizer = Normalizer(NormalizerConfig(), table, District.load(tmp_path / "d.json"))
    result = normalizer.normalize("hotline", [r.value for r in records], at_event_time=True)
    assert result.dead_letters == []
    cats = result.batch.events["category"].tolist()
    assert cats == [services.mapping[c] for c in codes]
