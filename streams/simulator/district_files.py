"""The district's committed data files: the gazetteer CSV, the unit-grid and street GeoJSON.

All are *generated* from :func:`build_district` at :data:`DISTRICT_SEED` and committed next
to the district description, so the intake can resolve addresses and grids without running
the simulator. ``citystream simulate --write-district`` regenerates them; a unit test checks
the committed copies are what the code produces.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from pathlib import Path

from streams.simulator.district import DISTRICTS_DIR, GRID_SIZE_M, District, Street

__all__ = [
    "SEGMENT_MAX_M",
    "gazetteer_csv",
    "street_segments",
    "streets_geojson",
    "unit_grids_geojson",
    "write_district_files",
]

# The segment rule (docs/patrols.md): a street of length L is cut by arc length into
# n = ceil(L / SEGMENT_MAX_M) pieces of equal length L / n; piece k of street i (from its
# first vertex, k = 0..n-1) is segment (i + 1) * SEGMENT_ID_BASE + k, so ids stay the same
# as long as the street and its length do.
SEGMENT_MAX_M = 100.0
SEGMENT_ID_BASE = 1000


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


def street_segments(street: Street) -> list[tuple[float, float, list[tuple[float, float]]]]:
    """(start, end, vertices in the metric plane) of each segment of ``street``, in order.

    The vertices are the cut points and the street's own vertices strictly between them.
    """
    n = max(1, math.ceil(street.length / SEGMENT_MAX_M - 1e-9))
    if n >= SEGMENT_ID_BASE:
        raise ValueError(f"street {street.name} needs {n} segments, ids allow {SEGMENT_ID_BASE}")
    cuts = [street.length * k / n for k in range(n + 1)]
    out = []
    for s0, s1 in itertools.pairwise(cuts):
        inner = [
            (x, y) for x, y, c in zip(street.xs, street.ys, street.cum, strict=True) if s0 < c < s1
        ]
        out.append((s0, s1, [street.point_at(s0), *inner, street.point_at(s1)]))
    return out


def streets_geojson(district: District) -> str:
    """A FeatureCollection of street segments (one feature per line, by segment id)."""
    lines = []
    for street in district.streets:
        street_id = f"{district.admin_code}-S{street.index + 1:03d}"
        for k, (s0, s1, pts) in enumerate(street_segments(street)):
            coords = []
            for x, y in pts:
                lat, lon = district.lat_lon(x, y)
                coords.append([round(lon, 7), round(lat, 7)])
            feature = {
                "type": "Feature",
                "properties": {
                    "segment_id": (street.index + 1) * SEGMENT_ID_BASE + k,
                    "street_id": street_id,
                    "street_name": street.name,
                    "length_m": round(s1 - s0, 2),
                },
                "geometry": {"type": "LineString", "coordinates": coords},
            }
            lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    head = f'{{"type":"FeatureCollection","name":"{district.name}_streets","features":[\n'
    return head + ",\n".join(lines) + "\n]}\n"


def write_district_files(district: District, directory: Path = DISTRICTS_DIR) -> list[Path]:
    """Write ``<name>_gazetteer.csv``, ``<name>_unit_grids.geojson`` and
    ``<name>_streets.geojson``; return their paths."""
    files = {
        directory / f"{district.name}_gazetteer.csv": gazetteer_csv(district),
        directory / f"{district.name}_unit_grids.geojson": unit_grids_geojson(district),
        directory / f"{district.name}_streets.geojson": streets_geojson(district),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)
