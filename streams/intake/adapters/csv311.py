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
import functools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from streams.intake.adapters.timeformats import TimeFormat, ZoneClock
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
    # how the export marks duplicates, as the file gives it (streams/onboarding/labels.py)
    labels: dict[str, Any] = dataclasses.field(default_factory=dict)

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
                labels=dict(raw.get("labels") or {}),
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

    @functools.cached_property
    def _formats(self) -> tuple[TimeFormat, ...]:
        return tuple(TimeFormat(f) for f in self.time_formats)

    @functools.cached_property
    def _clock(self) -> ZoneClock:
        return ZoneClock(self.timezone)

    def local_stamp(self, value: str) -> tuple[str, int] | None:
        """A local export time as (ISO 8601 with its offset, UTC epoch ms), or None: what
        :meth:`local_time` gives, faster (the path of every row of an import)."""
        for fmt in self._formats:
            parts = fmt.parts(value)
            if parts is not None:
                stamp = self._clock.stamp(parts)
                if stamp is not None:
                    return stamp
            elif fmt.regex is None:  # a format only strptime reads (%z, %b ...)
                break
        aware = self.local_time(value)
        return None if aware is None else (aware.isoformat(), round(aware.timestamp() * 1000))

    def local_time(self, value: str) -> datetime | None:
        """A local export time as an aware datetime, or None if no declared format fits."""
        for fmt in self._formats:
            dt = fmt.parse(value)
            if dt is not None:
                break
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


@dataclass(frozen=True)
class _Layout:
    """Where each mapped field's cell is in a row of one header, grouped by how the value
    is converted (one comprehension per group: this runs once per row of an import)."""

    plain: tuple[tuple[str, int], ...]
    coords: tuple[tuple[str, int], ...]
    times: tuple[tuple[str, int], ...]  # times other than requested_datetime
    status: int  # -1: not mapped
    requested: int
    width: int  # cells a row needs for every index to exist

    @classmethod
    def of(cls, mapping: Csv311Mapping, header: Sequence[str]) -> _Layout:
        at = {name: i for i, name in enumerate(header)}
        cols = {field: at[column] for field, column in mapping.columns.items()}
        special = {"requested_datetime", "status", "lat", "long", *_TIME_FIELDS}
        return cls(
            tuple((f, i) for f, i in cols.items() if f not in special),
            tuple((f, i) for f, i in cols.items() if f in ("lat", "long")),
            tuple(
                (f, i) for f, i in cols.items() if f in _TIME_FIELDS and f != "requested_datetime"
            ),
            cols.get("status", -1),
            cols["requested_datetime"],
            max(cols.values()) + 1,
        )


def row_to_open311(row: Mapping[str, str | None], mapping: Csv311Mapping) -> bytes:
    """One CSV row as an Open311 service request JSON; empty cells are left out."""
    columns = list(mapping.columns.values())
    cells = [row.get(c) or "" for c in columns]
    layout = _Layout.of(mapping, columns)
    requested = mapping.local_stamp(cells[layout.requested].strip())
    return orjson.dumps(_record(cells, layout, mapping, requested))


def _record(
    cells: list[str],
    layout: _Layout,
    mapping: Csv311Mapping,
    requested: tuple[str, int] | None,
) -> dict[str, Any]:
    """The Open311 fields of a row whose requested time was read as ``requested``."""
    if len(cells) < layout.width:  # a short row: its missing cells are empty
        cells = cells + [""] * (layout.width - len(cells))
    record: dict[str, Any] = {f: v for f, i in layout.plain if (v := cells[i].strip())}
    value = cells[layout.requested].strip()
    if value:
        record["requested_datetime"] = value if requested is None else requested[0]
    for f, i in layout.coords:
        if value := cells[i].strip():
            record[f] = _coordinate(value)
    if layout.status >= 0 and (value := cells[layout.status].strip()):
        record["status"] = mapping.status_map.get(value, value)
    for f, i in layout.times:
        if value := cells[i].strip():
            record[f] = mapping.local_time_iso(value)
    return record


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
        reader = csv.reader(fh)
        header = next(reader, [])
        resolved = mapping.resolve(header, path)
        layout = _Layout.of(resolved, header)
        ref_at = header.index(resolved.columns["service_request_id"])
        time_at = header.index(resolved.columns["requested_datetime"])
        for cells in reader:
            if not cells:
                continue  # a blank line is no row (as csv.DictReader reads it)
            n = len(cells)
            when = resolved.local_stamp(cells[time_at].strip() if time_at < n else "")
            yield Csv311Record(
                orjson.dumps(_record(cells, layout, resolved, when)),
                cells[ref_at].strip() if ref_at < n else "",
                None if when is None else when[1],
            )


def iter_csv311(path: str | Path, mapping: Csv311Mapping) -> Iterator[bytes]:
    """Yield one Open311 JSON record per CSV row, streaming (for backfill)."""
    for record in read_csv311(path, mapping):
        yield record.value
