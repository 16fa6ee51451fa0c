"""``citystream district init``: a district folder from a city's GIS files (docs/onboarding.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def _placeholder(text: str) -> tuple[float, float, str]:
    lat, lon, *note = text.split(",", 2)
    try:
        return float(lat), float(lon), (note[0].strip() if note else "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LAT,LON[,NOTE]") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("init",), help="init: check the files, write the folder")
    parser.add_argument("out", type=Path, help="the district folder to write")
    parser.add_argument("--name", required=True, help="the district's name")
    parser.add_argument(
        "--admin-code", required=True, help="6-digit admin area code (GB/T 2260), or any id"
    )
    parser.add_argument("--timezone", required=True, help="IANA time zone, e.g. Asia/Shanghai")
    parser.add_argument(
        "--boundary", type=Path, required=True, help="GeoJSON (Multi)Polygon of the district"
    )
    parser.add_argument("--unit-grids", type=Path, help="GeoJSON unit grids with grid_code")
    parser.add_argument(
        "--grid-code-pattern",
        help="regular expression grid codes must match (default: GB/T 30428.1, admin code + 9)",
    )
    parser.add_argument("--streets", type=Path, help="GeoJSON street lines")
    parser.add_argument(
        "--street-name-property", default="name", help="property naming a street (default name)"
    )
    parser.add_argument("--gazetteer", type=Path, help="CSV address,lat,lon (WGS84)")
    parser.add_argument(
        "--holidays", type=Path, action="append", default=[], help="CSV date,kind,name (repeat)"
    )
    parser.add_argument(
        "--inspectors", type=Path, help="the foot patrol's roster CSV (docs/patrols.md)"
    )
    parser.add_argument("--supervisors", type=Path, help="the verifying supervisors' roster CSV")
    parser.add_argument(
        "--campaigns",
        type=Path,
        help="the campaign calendar CSV (docs/contracts.md; default: an empty calendar)",
    )
    parser.add_argument(
        "--categories", help="a packaged city (nyc, chicago...) or a folder of category files"
    )
    parser.add_argument(
        "--placeholder",
        type=_placeholder,
        action="append",
        default=[],
        metavar="LAT,LON[,NOTE]",
        help="a position sources write when they have none (repeat)",
    )
    parser.add_argument(
        "--tolerance-m2",
        type=float,
        default=50.0,
        help="largest overlap, gap or overhang of the unit grids let pass (default 50 m²)",
    )
    parser.add_argument("--force", action="store_true", help="replace a district in OUT")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.onboarding.district import DistrictSources, OnboardingError, build_district

    src = DistrictSources(
        name=args.name,
        admin_code=args.admin_code,
        timezone=args.timezone,
        boundary=args.boundary,
        unit_grids=args.unit_grids,
        streets=args.streets,
        gazetteer=args.gazetteer,
        holidays=tuple(args.holidays),
        inspectors=args.inspectors,
        supervisors=args.supervisors,
        campaigns=args.campaigns,
        categories=args.categories,
        grid_code_pattern=args.grid_code_pattern,
        placeholders=tuple(args.placeholder),
        tolerance_m2=args.tolerance_m2,
        street_name_key=args.street_name_property,
        code_digits=settings.pipeline.category_code_digits,
    )
    try:
        district = build_district(src, args.out, force=args.force)
    except OnboardingError as exc:
        for line in exc.errors:
            print(f"citystream district: {line}", file=sys.stderr)
        print(
            f"citystream district: {len(exc.errors)} problem(s), nothing written", file=sys.stderr
        )
        return 2
    for note in src.notes:
        print(note)
    d = district
    print(
        f"wrote {args.out}: {d.name}, bounds [{d.lat_min:.5f}..{d.lat_max:.5f}]"
        f" x [{d.lon_min:.5f}..{d.lon_max:.5f}], {len(d.gazetteer)} addresses"
    )
    print(f"settings: {args.out / 'district.env'}")
    return 0
