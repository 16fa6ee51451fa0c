"""A district folder from a city's GIS files (``citystream district init``).

Reads the boundary, unit grids, streets, address gazetteer and holiday tables; checks
each one and all of them against each other; collects every problem (file, feature, what
is wrong) before giving up, so that one run lists them all; and writes the folder that
``CITYSTREAM_DISTRICT`` points at (layout: docs/onboarding.md), with ``district.env`` for
the settings that go with it.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import orjson

from kernels import GridSpec, UnitGridIndex
from streams.cases.calendar import CalendarError, load_holiday_file
from streams.onboarding.layers import check_codes, check_coverage
from streams.reference.campaigns import CAMPAIGN_COLUMNS, CampaignError, CampaignTable
from streams.reference.categories import CategoryError, CategoryTable, ServiceCodeMap
from streams.reference.data import CITIES_DIR
from streams.reference.geo import District, DistrictError
from streams.reference.inspectors import InspectorRoster, InspectorRosterError
from streams.reference.polygons import (
    PolygonError,
    Shape,
    read_features,
    read_shapes,
    rings_for_index,
)
from streams.reference.streets import StreetNetwork, StreetsError, approx_length_m
from streams.reference.supervisors import RosterError, SupervisorRoster

__all__ = ["DistrictSources", "OnboardingError", "build_district"]

_CITY_FILES = ("categories.csv", "open311_service_map.csv", "sensor_alarm_map.csv")
DISTRICT_FILE = "district.json"


class OnboardingError(Exception):
    """Every problem found in the input files, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class DistrictSources:
    name: str
    admin_code: str
    timezone: str
    boundary: Path
    unit_grids: Path | None = None
    streets: Path | None = None
    gazetteer: Path | None = None
    holidays: tuple[Path, ...] = ()
    inspectors: Path | None = None  # the foot patrol's roster (required with streets)
    supervisors: Path | None = None  # who verifies where (default: the packaged desk roster)
    campaigns: Path | None = None  # the campaign calendar (default: none, an empty calendar)
    categories: str | None = None  # a packaged city (streams/data/cities) or a folder
    grid_code_pattern: str | None = None
    placeholders: tuple[tuple[float, float, str], ...] = ()
    tolerance_m2: float = 50.0
    street_name_key: str = "name"
    code_digits: int = 4  # of the category codes (CITYSTREAM_CATEGORY_CODE_DIGITS)
    notes: list[str] = field(default_factory=list)  # what the build measured, for the user


def _origin_and_bounds(shapes: list[Shape]) -> tuple[tuple[float, float], dict[str, float]]:
    lons = [p[0] for s in shapes for poly in s.polygons for p in poly[0]]
    lats = [p[1] for s in shapes for poly in s.polygons for p in poly[0]]
    bounds = {
        "lat_min": min(lats),
        "lat_max": max(lats),
        "lon_min": min(lons),
        "lon_max": max(lons),
    }
    origin = (
        (bounds["lat_min"] + bounds["lat_max"]) / 2,
        (bounds["lon_min"] + bounds["lon_max"]) / 2,
    )
    return (round(origin[0], 6), round(origin[1], 6)), bounds


def _street_features(src: DistrictSources, errors: list[str]) -> list[dict[str, Any]]:
    """The streets as the pipeline's network file (streams/reference/streets.py): a file in
    that format is kept as it is; plain lines get ids in file order and measured lengths."""
    assert src.streets is not None
    path = src.streets
    out: list[dict[str, Any]] = []
    street_ids: dict[str, str] = {}
    for n, feat in enumerate(read_features(path)):
        props = feat.get("properties") if isinstance(feat, dict) else None
        props = props if isinstance(props, dict) else {}
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        if "segment_id" in props:
            out.append(feat)
            continue
        name = props.get(src.street_name_key) or props.get("street_name")
        kind: Any = geom.get("type") if isinstance(geom, dict) else None
        raw: Any = geom.get("coordinates") if isinstance(geom, dict) else None
        where = f"{path.name}: feature {n}"
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{where}: no street name (property {src.street_name_key!r})")
            continue
        if kind not in ("LineString", "MultiLineString"):
            errors.append(f"{where} ({name}): geometry must be a LineString, got {kind!r}")
            continue
        parts = [raw] if kind == "LineString" else raw
        sid = street_ids.setdefault(name, f"{src.admin_code}-S{len(street_ids) + 1:04d}")
        for part in parts:
            try:
                coords = [(float(p[0]), float(p[1])) for p in part]
            except (TypeError, ValueError, IndexError):
                errors.append(f"{where} ({name}): positions are not [lon, lat] pairs")
                continue
            props_out = {"segment_id": len(out), "street_id": sid, "street_name": name,
                         "length_m": round(approx_length_m(tuple(coords)), 2)}  # fmt: skip
            out.append({"type": "Feature", "properties": props_out,
                        "geometry": {"type": "LineString", "coordinates": coords}})  # fmt: skip
    if not errors:
        try:
            StreetNetwork.from_geojson({"type": "FeatureCollection", "features": out}, path)
        except StreetsError as exc:
            errors.append(f"{path.name}: {exc}")
    return out


def _check_gazetteer(path: Path, boundary: UnitGridIndex, errors: list[str]) -> None:
    """Every address a position inside the district (the boundary, not only its box)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not {"address", "lat", "lon"} <= set(reader.fieldnames or ()):
            errors.append(f"{path.name}: the header must include address,lat,lon")
            return
        for line, row in enumerate(reader, 2):
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
            except (TypeError, ValueError):
                errors.append(f"{path.name}:{line}: lat/lon of {row['address']!r} not numbers")
                continue
            if not (math.isfinite(lat) and math.isfinite(lon)):
                errors.append(f"{path.name}:{line}: lat/lon of {row['address']!r} not finite")
            elif not boundary.lookup(np.array([lat]), np.array([lon]))[0]:
                errors.append(
                    f"{path.name}:{line}: {row['address']!r} at ({lat}, {lon}) lies outside "
                    "the district boundary"
                )


def _check_basics(src: DistrictSources, errors: list[str]) -> None:
    try:
        ZoneInfo(src.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"--timezone: unknown time zone {src.timezone!r} (use an IANA name)")
    if not src.grid_code_pattern and not re.fullmatch(r"\d{6}", src.admin_code):
        errors.append(f"--admin-code: {src.admin_code!r} is not a 6-digit admin area code")
    if src.grid_code_pattern:
        try:
            re.compile(src.grid_code_pattern)
        except re.error as exc:
            errors.append(f"--grid-code-pattern: not a regular expression: {exc}")
    files = (src.boundary, src.unit_grids, src.streets, src.gazetteer, src.inspectors)
    for path in (*files, src.supervisors, src.campaigns, *src.holidays):
        if path is not None and not path.is_file():
            errors.append(f"{path}: no such file")
    for path in src.holidays:
        if path.is_file():
            try:
                table = load_holiday_file(path)
            except CalendarError as exc:
                errors.append(str(exc))
                continue
            if not table.days:
                errors.append(f"{path.name}: lists no dates, so covers no year")


def _check_rosters(src: DistrictSources, streets: list[dict[str, Any]], errors: list[str]) -> None:
    if src.streets and not src.inspectors:
        errors.append(
            "--inspectors: a district with streets needs its foot patrol's roster (the "
            "packaged one names another district's streets)"
        )
    if src.inspectors and src.inspectors.is_file():
        names = {str(f.get("properties", {}).get("street_name")) for f in streets}
        try:
            InspectorRoster.load(src.inspectors, streets=names if streets else None)
        except InspectorRosterError as exc:
            errors.append(str(exc))
    if src.supervisors and src.supervisors.is_file():
        try:
            SupervisorRoster.load(src.supervisors)
        except RosterError as exc:
            errors.append(str(exc))


def _check_campaigns(
    src: DistrictSources, streets: list[dict[str, Any]], folder: Path | None, errors: list[str]
) -> None:
    """The campaign calendar against the district's own categories and streets (the
    packaged calendar is Qibin's: a new district starts with none)."""
    if src.campaigns is None or not src.campaigns.is_file():
        return
    try:
        table = CategoryTable.load(folder / "categories.csv" if folder else None, src.code_digits)
        names = {str(f.get("properties", {}).get("street_name")) for f in streets}
        CampaignTable.load(src.campaigns, table.by_key, names if streets else None)
    except (CampaignError, CategoryError) as exc:
        errors.append(f"--campaigns: {exc}")


def _categories_dir(name: str, digits: int, errors: list[str]) -> Path | None:
    folder = Path(name) if Path(name).is_dir() else CITIES_DIR / name
    try:
        ServiceCodeMap.load(CategoryTable.load(folder / "categories.csv", digits))
    except CategoryError as exc:
        errors.append(f"--categories {name}: {exc}")
        return None
    return folder


def _layers(src: DistrictSources, errors: list[str]) -> tuple[list[Shape], list[Shape]]:
    boundary = read_shapes(src.boundary, None, errors)
    grids = read_shapes(src.unit_grids, "grid_code", errors) if src.unit_grids else []
    if src.unit_grids:
        errors += check_codes(grids, src.unit_grids.name, src.admin_code, src.grid_code_pattern)
    if boundary and grids and not errors:
        files = (src.boundary.name, src.unit_grids.name if src.unit_grids else "")
        report = check_coverage(boundary, grids, files, src.tolerance_m2)
        errors += report.errors
        src.notes.append(
            f"unit grids checked on a {report.step_m:.1f} m lattice: boundary "
            f"{report.boundary_m2 / 1e6:.3f} km², uncovered {report.gap_m2:,.0f} m²"
        )
        try:  # what the pipeline's index will take (numeric codes)
            origin, _ = _origin_and_bounds(boundary)
            UnitGridIndex.from_geojson(orjson.loads(src.unit_grids.read_bytes()), GridSpec(*origin))  # type: ignore[union-attr]
        except ValueError as exc:
            errors.append(f"{files[1]}: {exc}")
    return boundary, grids


def _spec(src: DistrictSources, boundary: list[Shape], names: dict[str, str]) -> dict[str, Any]:
    origin, bounds = _origin_and_bounds(boundary)
    spec: dict[str, Any] = {
        "name": src.name,
        "admin_code": src.admin_code,
        "timezone": src.timezone,
        "origin": {"lat": origin[0], "lon": origin[1]},
        "bounds": bounds,
        **names,
    }
    if src.placeholders:
        spec["placeholder_positions"] = [
            {"lat": lat, "lon": lon, "note": note} for lat, lon, note in src.placeholders
        ]
    return spec


def _env(out: Path, src: DistrictSources, holidays: list[str], categories: bool) -> str:
    lines = [
        "# settings of this district: `set -a; . ./district.env; set +a` (docs/onboarding.md)",
        f"CITYSTREAM_DISTRICT={out / DISTRICT_FILE}",
        f"CITYSTREAM_TIMEZONE={src.timezone}",
    ]
    if holidays:
        lines.append("CITYSTREAM_HOLIDAY_FILES=" + ",".join(str(out / h) for h in holidays))
    if categories:
        lines.append(f"CITYSTREAM_CATEGORIES_FILE={out / 'categories.csv'}")
    return "\n".join(lines) + "\n"


def build_district(src: DistrictSources, out: Path, *, force: bool = False) -> District:
    """Check every input, then write the district folder ``out``; :class:`OnboardingError`
    lists every problem found (nothing is written then)."""
    errors: list[str] = []
    _check_basics(src, errors)
    if (out / DISTRICT_FILE).exists() and not force:
        errors.append(f"{out}: already holds a district (--force replaces it)")
    if errors:
        raise OnboardingError(errors)
    boundary: list[Shape] = []
    streets: list[dict[str, Any]] = []
    try:
        boundary, _grids = _layers(src, errors)
        streets = _street_features(src, errors) if src.streets else []
    except PolygonError as exc:
        errors.append(str(exc))
    if src.gazetteer and boundary:
        origin, _ = _origin_and_bounds(boundary)
        index = UnitGridIndex.from_polygons(rings_for_index(boundary, 1), GridSpec(*origin, 1000.0))
        _check_gazetteer(src.gazetteer, index, errors)
    _check_rosters(src, streets, errors)
    categories = (
        _categories_dir(src.categories, src.code_digits, errors) if src.categories else None
    )
    _check_campaigns(src, streets, categories, errors)
    if errors:
        raise OnboardingError(errors)
    _write(src, out, boundary, streets, categories)
    try:
        return District.load(out)
    except DistrictError as exc:  # a bug here, not in the inputs: say so plainly
        raise OnboardingError([f"the written district does not load: {exc}"]) from exc


def _write(
    src: DistrictSources,
    out: Path,
    boundary: list[Shape],
    streets: list[dict[str, Any]],
    categories: Path | None,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {"boundary": "boundary.geojson"}
    copies = [(src.boundary, "boundary.geojson")]
    if src.unit_grids:
        names["unit_grids"] = "unit_grids.geojson"
        copies.append((src.unit_grids, "unit_grids.geojson"))
    if src.gazetteer:
        names["gazetteer"] = "gazetteer.csv"
        copies.append((src.gazetteer, "gazetteer.csv"))
    holidays = [f"holidays_{i}_{p.name}" for i, p in enumerate(src.holidays)]
    copies += zip(src.holidays, holidays, strict=True)
    if categories is not None:
        copies += [(categories / name, name) for name in _CITY_FILES]
    copies += [(p, n) for p, n in ((src.inspectors, "inspectors.csv"),
                                   (src.supervisors, "supervisors.csv")) if p]  # fmt: skip
    for path, name in copies:
        shutil.copyfile(path, out / name)
    if src.campaigns is not None:
        shutil.copyfile(src.campaigns, out / "campaigns.csv")
    else:  # a calendar of its own, empty, rather than another district's
        (out / "campaigns.csv").write_text(",".join(CAMPAIGN_COLUMNS) + "\n", encoding="utf-8")
    if src.streets:
        names["streets"] = "streets.geojson"
        doc = {"type": "FeatureCollection", "features": streets}
        (out / "streets.geojson").write_bytes(orjson.dumps(doc))
    spec = _spec(src, boundary, names)
    (out / DISTRICT_FILE).write_bytes(orjson.dumps(spec, option=orjson.OPT_INDENT_2))
    env = _env(out.resolve(), src, holidays, categories is not None)
    env += f"CITYSTREAM_CAMPAIGNS_FILE={out.resolve() / 'campaigns.csv'}\n"
    if src.inspectors:
        env += f"CITYSTREAM_INSPECTOR_ROSTER={out.resolve() / 'inspectors.csv'}\n"
    if src.supervisors:
        env += f"CITYSTREAM_SUPERVISOR_ROSTER={out.resolve() / 'supervisors.csv'}\n"
    (out / "district.env").write_text(env, encoding="utf-8")
