"""The district's street network: one GeoJSON LineString feature per street segment.

File format (docs/patrols.md, docs/contracts.md): a FeatureCollection in WGS84 whose
features each have a LineString geometry (at least two positions, not all the same) and
the properties ``segment_id`` (int >= 0, unique: the id visits are stored under, so it must
stay stable across versions of the file), ``street_id`` (text), ``street_name`` (text,
the same for every segment of a street) and ``length_m`` (metres, > 0, within 5 % + 1 m
of the geometry's length: catches files in feet or kilometres). The district config names
the file (``"streets"`` in ``streams/data/districts/<district>.json``), so a real city's
network replaces the simulated one by configuration.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from kernels import GridSpec, SegmentIndex, WalkParams
from streams.reference.geo import District
from streams.settings import WalkSettings

__all__ = ["StreetNetwork", "StreetSegment", "StreetsError", "approx_length_m", "walk_params"]

_LENGTH_TOLERANCE = (0.05, 1.0)  # (share, metres) the stated length may differ by
_EARTH_RADIUS_M = 6_371_008.8


class StreetsError(ValueError):
    """A street network file is invalid."""


@dataclass(frozen=True)
class StreetSegment:
    segment_id: int
    street_id: str
    street_name: str
    length_m: float
    coords: tuple[tuple[float, float], ...]  # (lon, lat) as in the file


def approx_length_m(coords: tuple[tuple[float, float], ...]) -> float:
    """Equirectangular length, plenty for a check at 5 %."""
    total = 0.0
    for (lon0, lat0), (lon1, lat1) in itertools.pairwise(coords):
        k = math.cos(math.radians((lat0 + lat1) / 2.0))
        dx = math.radians(lon1 - lon0) * k
        dy = math.radians(lat1 - lat0)
        total += math.hypot(dx, dy) * _EARTH_RADIUS_M
    return total


def _coords(geom: Any, where: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(geom, dict) or geom.get("type") != "LineString":
        kind = geom.get("type") if isinstance(geom, dict) else geom
        raise StreetsError(f"{where}: geometry must be a LineString, got {kind!r}")
    raw: Any = geom.get("coordinates")
    try:
        pts = tuple((float(p[0]), float(p[1])) for p in raw)
    except (TypeError, ValueError, IndexError) as exc:
        raise StreetsError(f"{where}: malformed LineString positions ({exc})") from exc
    if len(pts) < 2:
        raise StreetsError(f"{where}: a LineString needs at least 2 positions")
    for lon, lat in pts:
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):  # NaN fails too
            raise StreetsError(f"{where}: position ({lon!r}, {lat!r}) is not lon, lat in WGS84")
    if len(set(pts)) < 2:
        raise StreetsError(f"{where}: the LineString has zero length")
    return pts


def _text(props: dict[str, Any], key: str, where: str) -> str:
    value = props.get(key)
    if not isinstance(value, str) or not value.strip():
        raise StreetsError(f"{where}: {key} must be a non-empty text, got {value!r}")
    return value


def _segment(feat: Any, where: str) -> StreetSegment:
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        raise StreetsError(f"{where}: not a GeoJSON Feature")
    props = feat.get("properties")
    if not isinstance(props, dict):
        raise StreetsError(f"{where}: no properties")
    if "segment_id" not in props:
        raise StreetsError(f"{where}: missing segment_id")
    sid = props["segment_id"]
    if isinstance(sid, bool) or not isinstance(sid, int) or sid < 0:
        raise StreetsError(f"{where}: segment_id must be an integer >= 0, got {sid!r}")
    where = f"{where} (segment {sid})"
    length = props.get("length_m")
    if isinstance(length, bool) or not isinstance(length, int | float):
        raise StreetsError(f"{where}: length_m must be a number, got {length!r}")
    if not (math.isfinite(length) and length > 0):
        raise StreetsError(f"{where}: length_m must be > 0, got {length!r}")
    coords = _coords(feat.get("geometry"), where)
    measured = approx_length_m(coords)
    share, metres = _LENGTH_TOLERANCE
    if abs(measured - length) > share * measured + metres:
        raise StreetsError(
            f"{where}: length_m {length} differs from the geometry's {measured:.1f} m"
        )
    street_id, name = _text(props, "street_id", where), _text(props, "street_name", where)
    return StreetSegment(sid, street_id, name, float(length), coords)


@dataclass(frozen=True)
class StreetNetwork:
    """The segments in file order (the order that breaks ties between equally near ones)."""

    path: Path | None
    segments: tuple[StreetSegment, ...]

    @classmethod
    def load(cls, path: str | Path) -> StreetNetwork:
        path = Path(path)
        if not path.is_file():
            raise StreetsError(f"street network file {path} does not exist")
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise StreetsError(f"{path}: not JSON: {exc}") from exc
        try:
            return cls.from_geojson(doc, path)
        except StreetsError as exc:
            raise StreetsError(f"{path}: {exc}") from None

    @classmethod
    def for_district(cls, district: District) -> StreetNetwork:
        """The network the district config names (``"streets"``)."""
        if district.streets_path is None:
            raise StreetsError(f"district {district.name} names no street network file")
        return cls.load(district.streets_path)

    @classmethod
    def from_geojson(cls, doc: Any, path: Path | None = None) -> StreetNetwork:
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise StreetsError("the street network must be a GeoJSON FeatureCollection")
        features = doc.get("features")
        if not isinstance(features, list) or not features:
            raise StreetsError("the street network has no features")
        segments = tuple(_segment(f, f"feature {n}") for n, f in enumerate(features))
        first: dict[int, int] = {}
        names: dict[str, str] = {}
        for n, seg in enumerate(segments):
            if seg.segment_id in first:
                raise StreetsError(
                    f"feature {n}: duplicate segment_id {seg.segment_id} (first in feature "
                    f"{first[seg.segment_id]})"
                )
            first[seg.segment_id] = n
            name = names.setdefault(seg.street_id, seg.street_name)
            if name != seg.street_name:
                raise StreetsError(
                    f"feature {n}: street {seg.street_id} is named both {name!r} and "
                    f"{seg.street_name!r}"
                )
        return cls(path, segments)

    def __len__(self) -> int:
        return len(self.segments)

    def streets(self) -> dict[str, str]:
        """street_id -> street_name, in file order."""
        return {s.street_id: s.street_name for s in self.segments}

    def index(self, spec: GridSpec, buffer_m: float, bucket_m: float | None = None) -> SegmentIndex:
        """The segments projected with ``spec``, bucketed for matching within ``buffer_m``."""
        coords = [c for s in self.segments for c in s.coords]
        ptr = np.zeros(len(self.segments) + 1, dtype=np.int64)
        np.cumsum([len(s.coords) for s in self.segments], out=ptr[1:])
        return SegmentIndex.build(
            spec,
            np.array([s.segment_id for s in self.segments], dtype=np.int64),
            ptr,
            np.array([c[1] for c in coords]),
            np.array([c[0] for c in coords]),
            buffer_m=buffer_m,
            bucket_m=bucket_m,
        )


def walk_params(walk: WalkSettings) -> WalkParams:
    """The walking rule of ``kernels.walk`` with the thresholds of the settings."""
    return WalkParams.build(
        min_along_m=walk.min_along_m,
        min_share=walk.min_share,
        min_dwell_s=walk.min_dwell_s,
        max_gap_s=walk.max_gap_s,
    )
