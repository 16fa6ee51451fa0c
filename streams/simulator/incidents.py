"""Scenarios and the ground truth they produce: real-world incidents in the district.

An incident is one problem on the street (a tilted cover, a waterlogged underpass, a
vendor): a category, a position, a start and an end (fixed by the department, or on the
spot by a patrol). Records of every channel are derived from incidents in
:mod:`streams.simulator.reports`; the incident id never appears in a record.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from streams.simulator.catalog import PROFILES, Catalog, Profile
from streams.simulator.district import Device, District

__all__ = [
    "SCENARIOS",
    "DeviceIndex",
    "Incident",
    "Scenario",
    "poisson",
    "start_incidents",
]

# How far (m, along the street) a device of each type notices a problem near it.
SENSE_RADIUS_M = {
    "camera": 40.0,
    "smart_pole": 30.0,
    "water_level_gauge": 60.0,
    "manhole_cover": 15.0,
    "street_light": 10.0,
}
SENSE_PROB = 0.7  # a capable device in range reports the problem
DEVICE_OWN_SENSE_PROB = 0.9  # a smart cover / light reports its own fault (else dead battery)


@dataclass(frozen=True)
class Scenario:
    name: str
    default_start: date
    default_days: int
    rate_column: str  # which Profile rate applies
    volume: float  # per-day volume factor on top of --scale
    call_factor: float
    alarm_speedup: float  # sensors report this much more often (storm mode)
    extra_shifts: tuple[str, ...] = ()
    # the rate factor of the categories a campaign targets (streams/data/campaigns.csv)
    theme_boost: float = 1.0
    # Late delivery (docs/lateness.md): this share of hotline calls is forwarded by the
    # 12345 platform 6 h to 3 days after the call, and some gateways lose power for
    # ``outage_hours`` from ``outage_start_h`` (local) each day, then deliver the readings
    # they buffered at once. Only arrival times change: the incidents and reports are
    # those of the scenario without delays.
    late_call_share: float = 0.0
    outage_hours: float = 0.0
    outage_start_h: float = 14.0


SCENARIOS: dict[str, Scenario] = {
    "ordinary": Scenario("ordinary", date(2023, 7, 24), 1, "ordinary", 1.0, 1.0, 1.0),
    # the ordinary day with late hotline forwarding and a 2 h gateway power cut
    "late": Scenario(
        "late",
        date(2023, 7, 24),
        1,
        "ordinary",
        1.0,
        1.0,
        1.0,
        late_call_share=0.1,
        outage_hours=2.0,
    ),
    "typhoon": Scenario(
        "typhoon", date(2023, 7, 31), 1, "typhoon", 1.0, 1.5, 2.0, extra_shifts=("evening",)
    ),
    # the month of the calendar's first campaign (street vending, August 2023)
    "campaign": Scenario(
        "campaign",
        date(2023, 8, 1),
        31,
        "campaign",
        0.1,
        1.0,
        1.0,
        extra_shifts=("evening",),
        theme_boost=3.0,
    ),
}

_HOURS = {
    "flat": [1.0] * 24,
    "day": [0.2] * 6 + [0.5, 0.8] + [1.0] * 11 + [0.6, 0.5, 0.4, 0.3, 0.2],
    "evening": [0.1] * 6 + [0.5] * 4 + [0.4] * 7 + [1.0] * 6 + [0.5],
    "night": [1.0] * 6 + [0.6] * 3 + [0.3] * 11 + [0.8] * 4,
    "dusk": [0.3] * 18 + [3.0] * 3 + [0.3] * 3,
}
# Doksuri's rain over Hebi peaked in the afternoon: a bell around 14:00.
_RAIN = [0.1 + math.exp(-(((h + 0.5 - 14.0) / 4.0) ** 2)) for h in range(24)]


@dataclass
class Incident:
    incident_id: str
    key: str
    profile: Profile
    street: int
    s: float
    lat: float
    lon: float
    start_ms: int
    end_ms: int
    devices: list[tuple[Device, str]] = field(default_factory=list)  # (device, alarm_type)
    fixed_by: str = "department"
    recurrence_of: str = ""


class DeviceIndex:
    """Devices per street, sorted by position, for 'which devices see this spot'."""

    def __init__(self, district: District) -> None:
        self.by_street: dict[int, list[tuple[float, Device]]] = {}
        for d in district.devices:
            self.by_street.setdefault(d.street, []).append((d.s, d))
        for items in self.by_street.values():
            items.sort(key=lambda item: (item[0], item[1].device_id))
        self.positions = {k: [s for s, _ in v] for k, v in self.by_street.items()}
        self.by_component: dict[str, list[Device]] = {}
        for d in district.devices:
            if d.component:
                self.by_component.setdefault(d.component, []).append(d)

    def near(self, street: int, s: float, radius: float) -> list[Device]:
        pos = self.positions.get(street, [])
        lo, hi = bisect.bisect_left(pos, s - radius), bisect.bisect_right(pos, s + radius)
        return [d for _, d in self.by_street[street][lo:hi]] if hi > lo else []


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, normal approximation above 50)."""
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _start_ms(rng: random.Random, day: date, tz: ZoneInfo, weights: list[float]) -> int:
    hour = rng.choices(range(24), weights)[0]
    base = datetime.combine(day, time(hour, 0), tzinfo=tz)
    return int(base.timestamp() * 1000) + rng.randrange(3_600_000)


def _place(
    rng: random.Random, p: Profile, district: District, index: DeviceIndex, catalog: Catalog
) -> tuple[int, float, float, float, list[tuple[Device, str]]]:
    """(street, s, lat, lon, reporting devices) for a fresh incident of profile ``p``."""
    if p.placement in ("cover", "light"):
        # The problem is the device itself (a tilted cover, a dead lamp).
        dev = rng.choice(index.by_component[p.key])
        if p.placement == "cover":
            types = catalog.component_alarms
        else:
            types = tuple(a for t, a in catalog.alarms.get(p.key, ()) if t == "street_light")
        found = [(dev, rng.choice(types))] if types and rng.random() < DEVICE_OWN_SENSE_PROB else []
        return dev.street, dev.s, dev.lat, dev.lon, found
    if p.placement == "low" and rng.random() < 0.7:
        street, s0 = rng.choice(district.low_points)
        s = min(max(s0 + rng.uniform(-300, 300), 0.0), district.streets[street].length)
    else:
        lengths = [st.length for st in district.streets]
        street = rng.choices(range(len(district.streets)), lengths)[0]
        s = rng.uniform(0, district.streets[street].length)
    found = []
    for device_type, alarm_type in catalog.alarms.get(p.key, ()):
        for dev in index.near(street, s, SENSE_RADIUS_M[device_type]):
            if dev.device_type == device_type and rng.random() < SENSE_PROB:
                found.append((dev, alarm_type))
    lat, lon = district.lat_lon(*district.streets[street].point_at(s, rng.uniform(-15, 15)))
    return street, round(s, 1), round(lat, 6), round(lon, 6), found[:2]


def _rate(p: Profile, scenario: Scenario, theme: tuple[str, ...]) -> float:
    rate: float = getattr(p, scenario.rate_column) * scenario.volume
    return rate * (scenario.theme_boost if p.key in theme else 1.0)


def start_incidents(
    rng: random.Random,
    day: date,
    scenario: Scenario,
    scale: float,
    theme: tuple[str, ...],
    district: District,
    index: DeviceIndex,
    catalog: Catalog,
    next_id: list[int],
) -> list[Incident]:
    """Fresh incidents starting on ``day`` (ends are provisional: department fix times)."""
    tz = ZoneInfo(district.timezone)
    out: list[Incident] = []
    for p in PROFILES:
        weights = _RAIN if scenario.name == "typhoon" and p.weather else _HOURS[p.diurnal]
        for _ in range(poisson(rng, _rate(p, scenario, theme) * scale)):
            street, s, lat, lon, devices = _place(rng, p, district, index, catalog)
            start = _start_ms(rng, day, tz, weights)
            duration = max(10.0, p.duration_min * math.exp(rng.gauss(0.0, 0.6))) * 60_000
            next_id[0] += 1
            out.append(
                Incident(
                    f"INC{next_id[0]:07d}",
                    p.key,
                    p,
                    street,
                    s,
                    lat,
                    lon,
                    start,
                    start + int(duration),
                    devices,
                )
            )
    out.sort(key=lambda inc: (inc.start_ms, inc.incident_id))
    return out
