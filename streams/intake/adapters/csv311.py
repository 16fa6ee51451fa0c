"""311 exports (CSV) to Open311 GeoReport v2 JSON records, for backfill through the hotline.

A JSON mapping file declares which CSV column feeds which Open311 field, the time zone the
export's local times are in, the time formats it uses, and how its statuses map to
open/closed (``streams/data/csv311_nyc_mapping.json`` for NYC 311 / Socrata exports).
Values are converted, never judged: a value that does not convert is passed through as
the original string, so the hotline adapter dead-letters it with a clear reason.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from streams.reference.categories import default_data_dir

__all__ = ["OPEN311_FIELDS", "Csv311Error", "Csv311Mapping", "iter_csv311", "row_to_open311"]

OPEN311_FIELDS: tuple[str, ...] = (
    "service_request_id",
    "status",
    "service_code",
    "service_name",
    "description",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "address",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
_REQUIRED = ("service_request_id", "service_code", "requested_datetime")
_TIME_FIELDS = ("requested_datetime", "updated_datetime")


class Csv311Error(ValueError):
    """A mapping file or a CSV header is unusable (file-level, not record-level)."""


@dataclass(frozen=True)
class Csv311Mapping:
    name: str
    timezone: ZoneInfo
    time_formats: tuple[str, ...]
    columns: dict[str, str]  # Open311 field -> CSV column
    status_map: dict[str, str]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Csv311Mapping:
        """Read a mapping file; ``None`` means the packaged NYC 311 mapping."""
        map_path = Path(path) if path else default_data_dir() / "csv311_nyc_mapping.json"
        try:
            raw = orjson.loads(map_path.read_bytes())
            zone = ZoneInfo(raw["timezone"])
            columns = dict(raw["columns"])
            mapping = cls(
                str(raw["name"]),
                zone,
                tuple(raw.get("time_formats", ())),
                {str(k): str(v) for k, v in columns.items()},
                {str(k): str(v) for k, v in raw.get("status_map", {}).items()},
            )
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise Csv311Error(f"{map_path}: invalid 311 mapping: {exc!r}") from exc
        except ZoneInfoNotFoundError as exc:
            raise Csv311Error(f"{map_path}: unknown time zone: {exc}") from exc
        unknown = set(mapping.columns) - set(OPEN311_FIELDS)
        if unknown:
            raise Csv311Error(f"{map_path}: not Open311 fields: {sorted(unknown)}")
        missing = set(_REQUIRED) - set(mapping.columns)
        if missing:
            raise Csv311Error(f"{map_path}: required Open311 fields unmapped: {sorted(missing)}")
        bad_status = set(mapping.status_map.values()) - {"open", "closed"}
        if bad_status:
            raise Csv311Error(f"{map_path}: statuses must map to open/closed: {bad_status}")
        return mapping

    def local_time_iso(self, value: str) -> str:
        """A local export time as ISO 8601 with its zone; unparseable: returned as is."""
        for fmt in self.time_formats:
            try:
                dt = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            try:
                dt = datetime.fromisoformat(value)
            except ValueError:
                return value
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.timezone)
        return dt.isoformat()


def _coordinate(value: str) -> float | str:
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def row_to_open311(row: Mapping[str, str | None], mapping: Csv311Mapping) -> bytes:
    """One CSV row as an Open311 service request JSON; empty cells are left out."""
    record: dict[str, Any] = {}
    for field, column in mapping.columns.items():
        value = (row.get(column) or "").strip()
        if not value:
            continue
        if field in _TIME_FIELDS:
            record[field] = mapping.local_time_iso(value)
        elif field in ("lat", "long"):
            record[field] = _coordinate(value)
        elif field == "status":
            record[field] = mapping.status_map.get(value, value)
        else:
            record[field] = value
    return orjson.dumps(record)


def iter_csv311(path: str | Path, mapping: Csv311Mapping) -> Iterator[bytes]:
    """Yield one Open311 JSON record per CSV row, streaming (for backfill)."""
    with Path(path).open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = set(reader.fieldnames or ())
        missing = {c for c in mapping.columns.values() if c not in header}
        if missing:
            raise Csv311Error(f"{path}: CSV lacks mapped column(s) {sorted(missing)}")
        for row in reader:
            yield row_to_open311(row, mapping)
