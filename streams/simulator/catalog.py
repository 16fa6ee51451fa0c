"""How each category of real-world problem behaves, and how sources name it.

The *names* sources use (sensor alarm types, Open311 service codes) and their mapping to
category keys belong to the intake and are read from its data files
(``streams/data/sensor_alarm_map.csv``, ``open311_service_map.csv``, ``categories.csv``);
the simulator only inverts them. What is the simulator's own is the behaviour table below:
how often a problem happens per scenario, how long it lasts, how many citizens call, how
likely a patrol notices or fixes it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COMPONENT_FROM_DEVICE",
    "DATA_DIR",
    "PROFILES",
    "Catalog",
    "Profile",
    "load_catalog",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
COMPONENT_FROM_DEVICE = "@component"  # map value: the category coded in the device id


@dataclass(frozen=True)
class Profile:
    """Behaviour of one category. Rates are incidents per day at scale 1."""

    key: str
    placement: str  # cover | light | low | street
    ordinary: float
    typhoon: float
    campaign: float
    duration_min: float  # median minutes until the department fixes it
    calls: float  # mean hotline calls per incident
    notice: float  # probability a passing patrol reports it
    fix: float  # probability the reporting patrol fixes it on the spot
    recur: float  # probability it recurs at the same place later
    diurnal: str  # day | evening | night | dusk | flat
    weather: bool = False  # follows the rain curve on a typhoon day


# fmt: off
PROFILES: tuple[Profile, ...] = (
    #       key     placement ord   typh  camp  dur   calls notice fix  recur diurnal weather
    Profile("C0101", "cover", 80,   120,  80,   240,  0.3,  0.5,  0.1,  0.08, "flat"),
    Profile("C0102", "cover", 120,  240,  120,  240,  0.3,  0.5,  0.1,  0.08, "flat"),
    Profile("C0103", "cover", 100,  600,  100,  240,  0.3,  0.5,  0.1,  0.08, "flat", True),
    Profile("C0104", "cover", 60,   500,  60,   180,  0.2,  0.5,  0.2,  0.10, "flat", True),
    Profile("C0105", "cover", 40,   80,   40,   300,  0.2,  0.5,  0.05, 0.05, "flat"),
    Profile("C0118", "light", 240,  1000, 240,  900,  0.3,  0.3,  0.0,  0.05, "dusk", True),
    Profile("C0209", "street", 10,  60,   10,   1440, 0.2,  0.6,  0.0,  0.0,  "day", True),
    Profile("C0211", "street", 10,  40,   10,   1440, 0.2,  0.6,  0.0,  0.0,  "day", True),
    Profile("C0301", "street", 5,   10,   5,    300,  0.3,  0.5,  0.0,  0.05, "day"),
    Profile("C0305", "street", 30,  40,   30,   240,  0.1,  0.6,  0.5,  0.10, "day"),
    Profile("C0402", "street", 5,   100,  5,    720,  0.5,  0.7,  0.1,  0.0,  "day", True),
    Profile("C0405", "street", 10,  60,   10,   2880, 0.1,  0.5,  0.2,  0.0,  "day"),
    Profile("E0102", "street", 600, 600,  600,  120,  0.4,  0.7,  0.6,  0.10, "day"),
    Profile("E0104", "street", 400, 600,  400,  120,  0.2,  0.6,  0.7,  0.05, "day"),
    Profile("E0111", "low",    20,  1400, 20,   180,  1.5,  0.8,  0.0,  0.15, "flat", True),
    Profile("E0201", "street", 300, 40,   300,  1440, 0.1,  0.7,  0.8,  0.20, "night"),
    Profile("E0302", "street", 40,  0,    40,   300,  0.5,  0.5,  0.0,  0.10, "day"),
    Profile("E0306", "street", 40,  300,  40,   2880, 0.4,  0.6,  0.0,  0.05, "day", True),
    Profile("E0401", "street", 1,   80,   1,    720,  2.0,  0.9,  0.0,  0.0,  "day", True),
    Profile("E0403", "street", 0.3, 5,    0.3,  240,  3.0,  0.9,  0.0,  0.0,  "flat"),
    Profile("E0410", "street", 5,   800,  5,    360,  1.0,  0.8,  0.1,  0.0,  "flat", True),
    Profile("E0501", "street", 600, 60,   600,  90,   0.3,  0.7,  0.7,  0.15, "evening"),
    Profile("E0504", "street", 300, 40,   300,  120,  0.2,  0.7,  0.7,  0.10, "day"),
    Profile("E0505", "street", 1600, 200, 1600, 60,   0.2,  0.5,  0.3,  0.05, "day"),
    Profile("E0507", "street", 80,  120,  80,   600,  0.2,  0.6,  0.3,  0.05, "day"),
    Profile("E0510", "street", 120, 0,    120,  180,  0.4,  0.6,  0.7,  0.10, "evening"),
)
# fmt: on


@dataclass(frozen=True)
class Catalog:
    """The source vocabularies of the intake, inverted for generation."""

    categories: dict[str, str]  # key -> department
    names_zh: dict[str, str]  # key -> Chinese name (for free text)
    compatible: dict[str, tuple[str, ...]]  # key -> compatible keys (symmetric)
    # category key -> ((device_type, alarm_type), ...) that report it
    alarms: dict[str, tuple[tuple[str, str], ...]]
    component_alarms: tuple[str, ...]  # manhole_cover alarm types mapped to @component
    service_codes: dict[str, tuple[str, ...]]  # key -> codes mapping directly to it
    service_names: dict[str, str]  # code -> name
    code_category: dict[str, str]  # code -> key

    def hotline_codes(self, key: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(own codes, codes of compatible categories) a hotline operator may file under."""
        own = self.service_codes.get(key, ())
        near = tuple(c for k in self.compatible.get(key, ()) for c in self.service_codes.get(k, ()))
        return own, near


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"simulator needs the intake's mapping file {path}")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(columns) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        return list(reader)


def load_catalog(data_dir: Path = DATA_DIR) -> Catalog:
    """Read the intake's category table and source mappings from ``data_dir``."""
    cats = _rows(data_dir / "categories.csv", ("key", "department", "name_zh", "compatible_with"))
    categories = {r["key"]: r["department"] for r in cats}
    compat: dict[str, set[str]] = {k: set() for k in categories}
    for r in cats:
        for other in (r["compatible_with"] or "").split():
            compat[r["key"]].add(other)
            compat.setdefault(other, set()).add(r["key"])
    alarms: dict[str, list[tuple[str, str]]] = {}
    component: list[str] = []
    for r in _rows(
        data_dir / "sensor_alarm_map.csv", ("alarm_type", "device_type", "category_key")
    ):
        if r["category_key"] == COMPONENT_FROM_DEVICE:
            if r["device_type"] == "manhole_cover":
                component.append(r["alarm_type"])
            continue
        alarms.setdefault(r["category_key"], []).append((r["device_type"], r["alarm_type"]))
    codes: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    code_category: dict[str, str] = {}
    for r in _rows(data_dir / "open311_service_map.csv", ("service_code", "category_key")):
        codes.setdefault(r["category_key"], []).append(r["service_code"])
        names[r["service_code"]] = r.get("service_name") or r["service_code"]
        code_category[r["service_code"]] = r["category_key"]
    missing = [p.key for p in PROFILES if p.key not in categories]
    if missing:
        raise ValueError(f"simulator profiles name categories missing from the table: {missing}")
    return Catalog(
        categories=categories,
        names_zh={r["key"]: r["name_zh"] for r in cats},
        compatible={k: tuple(sorted(v)) for k, v in compat.items()},
        alarms={k: tuple(v) for k, v in alarms.items()},
        component_alarms=tuple(component),
        service_codes={k: tuple(v) for k, v in codes.items()},
        service_names=names,
        code_category=code_category,
    )
