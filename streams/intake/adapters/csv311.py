"""311 exports (CSV) to Open311 GeoReport v2 JSON records, for backfill through the hotline.

A JSON mapping file declares which CSV column feeds which Open311 field, the time zone the
export's local times are in, the time formats it uses, and how its statuses map to
open/closed (``streams/data/cities/<city>/csv311_mapping.json``; docs/onboarding.md).
A column is named once, or as a list of alternatives; header names are compared without
case, spaces or punctuation, so an API export (``unique_key``) and a web download
(``Unique Key``) of the same dataset read with one mapping.
Values are converted, never judged: a value that does not convert is passed through as
the original string, so the hotline adapter dead-letters it with a clear reason.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from streams.reference.data import CITIES_DIR

__all__ = [
    "OPEN311_FIELDS",
    "Csv311Error",
    "Csv311Mapping",
    "Csv311Record",
    "header_key",
    "iter_csv311",
    "read_csv311",
    "row_to_open311",
]

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
_NOT_KEY = re.compile(r"[\W_]+")  # any script: 工单编号 is a name too
_SLASHED_DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})")
DEFAULT_CITY = "nyc"


def header_key(name: str) -> str:
    """What a header is compared by: ``Unique Key``, ``unique_key`` and ``UNIQUE-KEY`` match."""
    return _NOT_KEY.sub("", name.casefold())


def _alternatives(path: Path, field: str, value: object) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]
    if not names or not all(isinstance(n, str) and n for n in names):
        raise Csv311Error(f"{path}: column of {field!r} must be a name or a list of names")
    return names


class Csv311Error(ValueError):
    """A mapping file or a CSV header is unusable (file-level, not record-level)."""


@dataclass(frozen=True)
class Csv311Mapping:
    name: str
    timezone: ZoneInfo
    time_formats: tuple[str, ...]
    columns: dict[str, str]  # Open311 field -> CSV column (the first alternative until resolved)
    status_map: dict[str, str]
    # Open311 field -> every column name that may feed it (see header_key)
    alternatives: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    path: Path | None = None
    absent: tuple[str, ...] = ()  # optional fields whose column an export lacks (resolve)

    @staticmethod
    def path_of(name_or_path: str | Path | None) -> Path:
        """A mapping file: a path, or the name of a packaged city (``nyc``, ``chicago``...)."""
        if not name_or_path:
            name_or_path = DEFAULT_CITY
        path = Path(name_or_path)
        if path.suffix != ".json" and path.parent == Path("."):
            return CITIES_DIR / str(name_or_path) / "csv311_mapping.json"
        return path

    @classmethod
    def load(cls, path: str | Path | None = None) -> Csv311Mapping:
        """Read a mapping file (:meth:`path_of`); ``None`` means the packaged NYC mapping."""
        map_path = cls.path_of(path)
        try:
            raw = orjson.loads(map_path.read_bytes())
            zone = ZoneInfo(raw["timezone"])
            alternatives = {
                str(k): _alternatives(map_path, str(k), v) for k, v in dict(raw["columns"]).items()
            }
            mapping = cls(
                str(raw["name"]),
                zone,
                tuple(raw.get("time_formats", ())),
                {k: v[0] for k, v in alternatives.items()},
                {str(k): str(v) for k, v in raw.get("status_map", {}).items()},
                alternatives,
                map_path,
            )
        except FileNotFoundError:
            raise Csv311Error(f"{map_path}: no such 311 mapping file") from None
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

    def resolve(self, header: Sequence[str], source: str | Path) -> Csv311Mapping:
        """This mapping with each field's column as the export's ``header`` spells it.

        A required field's column must be there; an optional one may be missing (a web
        download of chosen columns): it is left out, and named in ``absent``."""
        by_key: dict[str, str] = {}
        for name in header:
            other = by_key.setdefault(header_key(name), name)
            if other != name:
                raise Csv311Error(f"{source}: columns {other!r} and {name!r} read alike")
        columns: dict[str, str] = {}
        absent: list[str] = []
        for field, names in (
            self.alternatives or {k: (v,) for k, v in self.columns.items()}
        ).items():
            found = next((by_key[k] for k in map(header_key, names) if k in by_key), None)
            if found is not None:
                columns[field] = found
            else:
                absent.append(f"{field} ({' | '.join(names)})")
        missing = [a for a in absent if a.split(" ", 1)[0] in _REQUIRED]
        if missing:
            raise Csv311Error(
                f"{source}: CSV lacks mapped column(s) {missing} of mapping {self.name}"
            )
        return dataclasses.replace(self, columns=columns, absent=tuple(absent))

    def local_time(self, value: str) -> datetime | None:
        """A local export time as an aware datetime, or None if no declared format fits."""
        for fmt in self.time_formats:
            try:
                dt = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            try:
                # ArcGIS downloads write 2024/04/01 12:34:56+00
                dt = datetime.fromisoformat(_SLASHED_DATE.sub(r"\1-\2-\3", value))
            except ValueError:
                return None
        return dt if dt.tzinfo is not None else dt.replace(tzinfo=self.timezone)

    def local_time_iso(self, value: str) -> str:
        """A local export time as ISO 8601 with its zone; unparseable: returned as is."""
        dt = self.local_time(value)
        return value if dt is None else dt.isoformat()


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


@dataclass(frozen=True, slots=True)
class Csv311Record:
    """One export row as an Open311 record, with what an import keys and times it by."""

    value: bytes
    ref: str  # service_request_id ("" when the row has none: the adapter rejects it)
    event_ms: int | None  # requested_datetime as UTC epoch ms; None when it does not parse


def read_csv311(path: str | Path, mapping: Csv311Mapping) -> Iterator[Csv311Record]:
    """One :class:`Csv311Record` per CSV row, streaming; a BOM before the header is ignored
    (spreadsheet exports write one)."""
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        resolved = mapping.resolve(reader.fieldnames or (), path)
        ref_col = resolved.columns["service_request_id"]
        time_col = resolved.columns["requested_datetime"]
        for row in reader:
            when = resolved.local_time((row.get(time_col) or "").strip())
            yield Csv311Record(
                row_to_open311(row, resolved),
                (row.get(ref_col) or "").strip(),
                None if when is None else round(when.timestamp() * 1000),
            )


def iter_csv311(path: str | Path, mapping: Csv311Mapping) -> Iterator[bytes]:
    """Yield one Open311 JSON record per CSV row, streaming (for backfill)."""
    for record in read_csv311(path, mapping):
        yield record.value
