"""How each category of real-world problem behaves, and how sources name it.

The *names* sources use (sensor alarm types, Open311 service codes) and their mapping to
category keys belong to the reference data and are read by its loaders
(:mod:`streams.reference.categories`); the simulator only inverts them. What is the
simulator's own is the behaviour table below: how often a problem happens per scenario,
how long it lasts, how many citizens call, how likely a patrol notices or fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.reference.categories import CategoryTable, SensorAlarmMap, ServiceCodeMap

__all__ = [
    "PROFILES",
    "Catalog",
    "Profile",
    "load_catalog",
]


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


def load_catalog(table: CategoryTable | None = None) -> Catalog:
    """The intake's category table and source mappings (the packaged ones by default),
    read by the intake's own loaders and inverted for generation."""
    table = table or CategoryTable.load()
    key_of = {cat.id: cat.key for cat in table.by_id.values()}
    alarms: dict[str, list[tuple[str, str]]] = {}
    component: list[str] = []
    for (alarm_type, device_type), category in SensorAlarmMap.load(table).mapping.items():
        if category < 0:  # COMPONENT_FROM_DEVICE: the category is coded in the device id
            if device_type == "manhole_cover":
                component.append(alarm_type)
            continue
        alarms.setdefault(key_of[category], []).append((device_type, alarm_type))
    service_map = ServiceCodeMap.load(table)
    codes: dict[str, list[str]] = {}
    for code, category in service_map.mapping.items():
        codes.setdefault(key_of[category], []).append(code)
    missing = [p.key for p in PROFILES if p.key not in table]
    if missing:
        raise ValueError(f"simulator profiles name categories missing from the table: {missing}")
    return Catalog(
        categories={key: cat.department for key, cat in table.by_key.items()},
        names_zh={key: cat.name_zh for key, cat in table.by_key.items()},
        compatible=table.compatible_keys(),
        alarms={k: tuple(v) for k, v in alarms.items()},
        component_alarms=tuple(component),
        service_codes={k: tuple(v) for k, v in codes.items()},
        service_names=dict(service_map.names),
        code_category={code: key_of[c] for code, c in service_map.mapping.items()},
    )
