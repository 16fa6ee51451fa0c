"""The district's committed data files: the gazetteer CSV and the unit-grid GeoJSON.

Both are *generated* from :func:`build_district` at :data:`DISTRICT_SEED` and committed next
to the district description, so the intake can resolve addresses and grids without running
the simulator. ``citystream simulate --write-district`` regenerates them; a unit test checks
the committed copies are what the code produces.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from streams.simulator.district import DISTRICTS_DIR, GRID_SIZE_M, District

__all__ = ["gazetteer_csv", "unit_grids_geojson", "write_district_files"]


def gazetteer_csv(district: District) -> str:
    """``address,lat,lon`` rows, one per house number, in street order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("address", "lat", "lon"))
    for a in district.addresses:
        writer.writerow((a.text, f"{a.lat:.6f}", f"{a.lon:.6f}"))
    return buf.getvalue()


def _ring(district: District, i: int, j: int) -> list[list[float]]:
    corners = ((i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1), (i, j))
    ring = []
    for ci, cj in corners:
        lat, lon = district.lat_lon(ci * GRID_SIZE_M, cj * GRID_SIZE_M)
        ring.append([round(lon, 6), round(lat, 6)])
    return ring


def unit_grids_geojson(district: District) -> str:
    """A FeatureCollection of the street unit grids (one feature per line, sorted by code)."""
    lines = []
    for (i, j), code in sorted(district.grids.items(), key=lambda item: item[1]):
        feature = {
            "type": "Feature",
            "properties": {"grid_code": code},
            "geometry": {"type": "Polygon", "coordinates": [_ring(district, i, j)]},
        }
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    head = f'{{"type":"FeatureCollection","name":"{district.name}_unit_grids","features":[\n'
    return head + ",\n".join(lines) + "\n]}\n"


def write_district_files(district: District, directory: Path = DISTRICTS_DIR) -> list[Path]:
    """Write ``<name>_gazetteer.csv`` and ``<name>_unit_grids.geojson``; return their paths."""
    gazetteer = directory / f"{district.name}_gazetteer.csv"
    grids = directory / f"{district.name}_unit_grids.geojson"
    gazetteer.write_text(gazetteer_csv(district), encoding="utf-8")
    grids.write_text(unit_grids_geojson(district), encoding="utf-8")
    return [gazetteer, grids]
