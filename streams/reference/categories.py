"""The category table (components and events) and the mappings from source codes to it.

The data lives in ``streams/data/categories.csv`` (or ``CITYSTREAM_CATEGORIES_FILE``); the
sensor-alarm and Open311 service-code mappings are CSV files beside the table. Code widths
come from config (4 digits = 2 major + 2 minor by default; 5 for GB/T 47678 style codes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streams.reference.data import DATA_DIR, read_csv_rows

__all__ = [
    "COMPONENT_FROM_DEVICE",
    "DEADLINE_UNITS",
    "DEPARTMENTS",
    "DEVICE_TYPES",
    "KINDS",
    "URGENCIES",
    "Category",
    "CategoryError",
    "CategoryTable",
    "KernelParams",
    "SensorAlarmMap",
    "ServiceCodeMap",
    "default_data_dir",
]

DEPARTMENTS: tuple[str, ...] = ("municipal", "landscaping", "sanitation", "enforcement")
DEADLINE_UNITS: tuple[str, ...] = ("work_hours", "work_days", "clock_hours")
URGENCIES: tuple[str, ...] = ("urgent", "normal")
KINDS: dict[str, str] = {"component": "C", "event": "E"}  # kind -> key letter
# The sensor device types of docs/contracts.md.
DEVICE_TYPES: tuple[str, ...] = (
    "manhole_cover",
    "smart_pole",
    "water_level_gauge",
    "street_light",
    "camera",
)
# Mapping value meaning "the component category coded in the device id" (CJ/T 214 ids).
COMPONENT_FROM_DEVICE = "@component"

_TABLE_COLUMNS = [
    "id",
    "key",
    "kind",
    "code",
    "name_zh",
    "name_en",
    "department",
    "radius_m",
    "window_s",
    "deadline_value",
    "deadline_unit",
    "urgency",
    "compatible_with",
]


_MAX_SPAN_S = 10 * 366 * 86400  # the longest window or open age a category may have


class CategoryError(ValueError):
    """The category table or a mapping file is invalid."""


def default_data_dir() -> Path:
    """The packaged ``streams/data`` folder."""
    return DATA_DIR


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    key: str
    kind: str
    code: str
    name_zh: str
    name_en: str
    department: str
    radius_m: float
    window_s: int
    # how long after its last report an open case still attracts reports (dedup's
    # ``max_open_age_s``); None: the pipeline setting CITYSTREAM_MAX_OPEN_AGE_S
    max_open_age_s: int | None
    deadline_value: int
    deadline_unit: str
    urgency: str
    compatible_with: tuple[str, ...]


@dataclass(frozen=True)
class KernelParams:
    """Per-category dedup parameters as arrays indexed by category id.

    Ids absent from the table have radius 0 (never merge) and no compatibility. ``compat``
    is symmetric and true on the diagonal of every defined category.
    """

    radius_m: np.ndarray  # float64 (max_id + 1,)
    window_s: np.ndarray  # int64 (max_id + 1,)
    compat: np.ndarray  # bool (max_id + 1, max_id + 1)
    max_open_age_s: np.ndarray  # int64 (max_id + 1,); -1 where the table leaves it open


def _read_csv(path: Path, required: list[str]) -> list[dict[str, str]]:
    return read_csv_rows(path, required, CategoryError)


def _int(path: Path, line: int, name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise CategoryError(f"{path}:{line}: {name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise CategoryError(f"{path}:{line}: {name}={value} outside [{low}, {high}]")
    return value


def _parse_row(path: Path, line: int, row: dict[str, str], code_digits: int) -> Category:
    kind, code, key = row["kind"], row["code"], row["key"]
    if kind not in KINDS:
        raise CategoryError(f"{path}:{line}: kind {kind!r} not in {sorted(KINDS)}")
    if len(code) != code_digits or not code.isascii() or not code.isdigit():
        raise CategoryError(f"{path}:{line}: code {code!r} is not {code_digits} digits")
    if key != KINDS[kind] + code:
        raise CategoryError(f"{path}:{line}: key {key!r} must be {KINDS[kind] + code!r}")
    checks = (
        ("department", DEPARTMENTS),
        ("deadline_unit", DEADLINE_UNITS),
        ("urgency", URGENCIES),
    )
    for name, allowed in checks:
        if row[name] not in allowed:
            raise CategoryError(f"{path}:{line}: {name} {row[name]!r} not in {allowed}")
    try:
        radius = float(row["radius_m"])
    except ValueError:
        raise CategoryError(f"{path}:{line}: radius_m {row['radius_m']!r} not a number") from None
    if not 0.0 <= radius <= 100_000.0:
        raise CategoryError(f"{path}:{line}: radius_m {radius} outside [0, 100000]")
    return Category(
        id=_int(path, line, "id", row["id"], 1, 65535),
        key=key,
        kind=kind,
        code=code,
        name_zh=row["name_zh"],
        name_en=row["name_en"],
        department=row["department"],
        radius_m=radius,
        window_s=_int(path, line, "window_s", row["window_s"], 0, _MAX_SPAN_S),
        max_open_age_s=(
            _int(path, line, "max_open_age_s", age, 0, _MAX_SPAN_S)
            if (age := row.get("max_open_age_s") or "")
            else None
        ),
        deadline_value=_int(path, line, "deadline_value", row["deadline_value"], 1, 10_000),
        deadline_unit=row["deadline_unit"],
        urgency=row["urgency"],
        compatible_with=tuple((row["compatible_with"] or "").split()),
    )


class CategoryTable:
    """Categories by key and by stable numeric id."""

    def __init__(self, categories: list[Category], path: Path, code_digits: int) -> None:
        self.path = path
        self.code_digits = code_digits
        self.by_key: dict[str, Category] = {}
        self.by_id: dict[int, Category] = {}
        for cat in categories:
            if cat.key in self.by_key:
                raise CategoryError(f"{path}: duplicate key {cat.key}")
            if cat.id in self.by_id:
                raise CategoryError(f"{path}: duplicate id {cat.id}")
            self.by_key[cat.key] = cat
            self.by_id[cat.id] = cat
        for cat in categories:
            for other in cat.compatible_with:
                if other not in self.by_key:
                    raise CategoryError(f"{path}: {cat.key} compatible_with unknown {other}")
                if other == cat.key:
                    raise CategoryError(f"{path}: {cat.key} lists itself as compatible")

    @classmethod
    def load(cls, path: str | Path | None = None, code_digits: int = 4) -> CategoryTable:
        """Read and validate a table; ``None`` or ``""`` means the packaged default."""
        if code_digits < 2 or code_digits > 8:
            raise CategoryError(f"code width {code_digits} outside [2, 8]")
        table_path = Path(path) if path else default_data_dir() / "categories.csv"
        rows = _read_csv(table_path, _TABLE_COLUMNS)
        if not rows:
            raise CategoryError(f"{table_path}: the table is empty")
        cats = [_parse_row(table_path, i, row, code_digits) for i, row in enumerate(rows, 2)]
        return cls(cats, table_path, code_digits)

    def __len__(self) -> int:
        return len(self.by_key)

    def __contains__(self, key: object) -> bool:
        return key in self.by_key

    def get(self, key: str) -> Category:
        try:
            return self.by_key[key]
        except KeyError:
            raise CategoryError(f"unknown category key {key!r}") from None

    def id_of(self, key: str) -> int:
        return self.get(key).id

    def beside(self, filename: str) -> Path:
        """A mapping file that lives next to this table."""
        return self.path.parent / filename

    def compatible_keys(self) -> dict[str, tuple[str, ...]]:
        """Every category's compatible keys, both ways: listing a pair on one side is enough."""
        pairs: dict[str, set[str]] = {key: set() for key in self.by_key}
        for cat in self.by_key.values():
            for other in cat.compatible_with:
                pairs[cat.key].add(other)
                pairs[other].add(cat.key)
        return {key: tuple(sorted(keys)) for key, keys in pairs.items()}

    def kernel_params(self) -> KernelParams:
        size = max(self.by_id) + 1
        radius = np.zeros(size, dtype=np.float64)
        window = np.zeros(size, dtype=np.int64)
        compat = np.zeros((size, size), dtype=np.bool_)
        open_age = np.full(size, -1, dtype=np.int64)
        for cat in self.by_id.values():
            radius[cat.id] = cat.radius_m
            window[cat.id] = cat.window_s
            open_age[cat.id] = -1 if cat.max_open_age_s is None else cat.max_open_age_s
            compat[cat.id, cat.id] = True
        for key, others in self.compatible_keys().items():
            for other in others:
                compat[self.by_key[key].id, self.by_key[other].id] = True
        return KernelParams(radius, window, compat, open_age)


class SensorAlarmMap:
    """(alarm_type, device_type) -> category id, or COMPONENT_FROM_DEVICE (id -1)."""

    def __init__(self, mapping: dict[tuple[str, str], int]) -> None:
        self.mapping = mapping

    @classmethod
    def load(cls, table: CategoryTable, path: str | Path | None = None) -> SensorAlarmMap:
        map_path = Path(path) if path else table.beside("sensor_alarm_map.csv")
        rows = _read_csv(map_path, ["alarm_type", "device_type", "category_key"])
        mapping: dict[tuple[str, str], int] = {}
        for line, row in enumerate(rows, 2):
            pair = (row["alarm_type"], row["device_type"])
            if pair[1] not in DEVICE_TYPES:
                raise CategoryError(f"{map_path}:{line}: device_type {pair[1]!r} unknown")
            if pair in mapping:
                raise CategoryError(f"{map_path}:{line}: duplicate mapping for {pair}")
            key = row["category_key"]
            if key == COMPONENT_FROM_DEVICE:
                mapping[pair] = -1
            elif key in table:
                mapping[pair] = table.id_of(key)
            else:
                raise CategoryError(f"{map_path}:{line}: unknown category key {key!r}")
        return cls(mapping)


class ServiceCodeMap:
    """Open311 ``service_code`` (or a 311 export's complaint type) -> category id."""

    def __init__(self, mapping: dict[str, int], names: dict[str, str] | None = None) -> None:
        self.mapping = mapping
        self.names = names or {}  # service code -> its display name, where the file gives one

    @classmethod
    def load(cls, table: CategoryTable, path: str | Path | None = None) -> ServiceCodeMap:
        map_path = Path(path) if path else table.beside("open311_service_map.csv")
        rows = _read_csv(map_path, ["service_code", "category_key"])
        mapping: dict[str, int] = {}
        names: dict[str, str] = {}
        for line, row in enumerate(rows, 2):
            code, key = row["service_code"], row["category_key"]
            names[code] = row.get("service_name") or code
            if code in mapping:
                raise CategoryError(f"{map_path}:{line}: duplicate service code {code!r}")
            if key not in table:
                raise CategoryError(f"{map_path}:{line}: unknown category key {key!r}")
            mapping[code] = table.id_of(key)
        return cls(mapping, names)
