"""A seeded synthetic district: streets, unit grids, gazetteer, devices and inspectors.

Everything is drawn in a metric plane around the district origin (see :mod:`geo`) from one
``random.Random``; the same seed always gives the same district. The district's gazetteer and
unit grids are committed as data files (see :mod:`streams.simulator.district_files`) because
the intake resolves hotline addresses through them: scenarios vary by *their* seed, the
district stays fixed at :data:`DISTRICT_SEED`.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
from dataclasses import dataclass, field

from streams.reference.data import DISTRICTS_DIR
from streams.simulator import names
from streams.simulator.geo import CRS_NAMES, Plane

__all__ = [
    "DEPARTMENTS",
    "DISTRICTS_DIR",
    "DISTRICT_SEED",
    "Address",
    "Device",
    "District",
    "Inspector",
    "Street",
    "build_district",
    "load_district_spec",
]

DISTRICT_SEED = 2023
DEPARTMENTS = ("municipal", "landscaping", "sanitation", "enforcement")
GRID_SIZE_M = 100.0
ADDRESS_SPACING_M = 70.0
COVER_SPACING_M = 80.0
POLE_SPACING_M = 160.0
LOW_POINTS = 40
GATEWAY_BATCH_EVERY = 4  # every 4th gateway forwards alarms in batches
# Cover component minor codes (CJ/T 214 major 01) and their shares among covers.
COVER_MINORS = (("01", 0.2), ("02", 0.3), ("03", 0.25), ("04", 0.15), ("05", 0.1))
# Minor codes under the project's major 06 "smart infrastructure" for non-component devices.
POLE_CODE, CAMERA_CODE, GAUGE_CODE, LIGHT_CODE = "0601", "0602", "0603", "0118"


@dataclass(frozen=True)
class Street:
    """A named street as a polyline in the metric plane."""

    index: int
    name: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    cum: tuple[float, ...]  # cumulative length at each vertex

    @property
    def length(self) -> float:
        return self.cum[-1]

    def point_at(self, s: float, lateral: float = 0.0) -> tuple[float, float]:
        """The point ``s`` metres along the street, ``lateral`` metres to its left."""
        s = min(max(s, 0.0), self.length)
        k = min(max(bisect.bisect_right(self.cum, s) - 1, 0), len(self.xs) - 2)
        seg = self.cum[k + 1] - self.cum[k]
        t = (s - self.cum[k]) / seg if seg > 0 else 0.0
        dx, dy = self.xs[k + 1] - self.xs[k], self.ys[k + 1] - self.ys[k]
        norm = math.hypot(dx, dy) or 1.0
        x = self.xs[k] + t * dx - lateral * dy / norm
        y = self.ys[k] + t * dy + lateral * dx / norm
        return x, y


@dataclass(frozen=True)
class Address:
    text: str
    street: int
    s: float
    lat: float
    lon: float


@dataclass(frozen=True)
class Device:
    device_id: str
    device_type: str
    street: int
    s: float
    lat: float
    lon: float
    gateway: int
    component: str = ""  # category key for component devices (e.g. C0103), else ""


@dataclass(frozen=True)
class Inspector:
    inspector_id: str
    role: str  # head | chief | staff
    department: str
    crs: str
    speed_mps: float
    beat: tuple[int, ...]  # street indices this inspector walks


@dataclass
class District:
    name: str
    admin_code: str
    timezone: str
    plane: Plane
    bounds: dict[str, float]
    streets: list[Street]
    grids: dict[tuple[int, int], str]  # (cell i, cell j) -> 15-digit grid code
    addresses: list[Address]
    devices: list[Device]
    inspectors: list[Inspector]
    low_points: list[tuple[int, float]]  # (street, s)
    gateways: int
    by_type: dict[str, list[Device]] = field(default_factory=dict)
    addresses_by_street: dict[int, list[Address]] = field(default_factory=dict)

    def lat_lon(self, x: float, y: float) -> tuple[float, float]:
        return self.plane.to_wgs84(x, y)

    def grid_code_at(self, x: float, y: float) -> str:
        """The unit grid containing the point, or "" if it is not a street grid."""
        return self.grids.get((math.floor(x / GRID_SIZE_M), math.floor(y / GRID_SIZE_M)), "")

    def inside(self, lat: float, lon: float) -> bool:
        b = self.bounds
        return b["lat_min"] <= lat <= b["lat_max"] and b["lon_min"] <= lon <= b["lon_max"]

    def batching_gateway(self, gateway: int) -> bool:
        return gateway % GATEWAY_BATCH_EVERY == GATEWAY_BATCH_EVERY - 1


def load_district_spec(name: str = "qibin") -> dict[str, object]:
    """The district's static description (``streams/data/districts/<name>.json``)."""
    path = DISTRICTS_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no district description {path}")
    spec: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return spec


def _polyline(index: int, name: str, pts: list[tuple[float, float]]) -> Street:
    cum = [0.0]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        cum.append(cum[-1] + math.hypot(x1 - x0, y1 - y0))
    return Street(
        index,
        name,
        tuple(p[0] for p in pts),
        tuple(p[1] for p in pts),
        tuple(round(c, 3) for c in cum),
    )


def _build_streets(rng: random.Random) -> list[Street]:
    streets: list[Street] = []
    for k, name in enumerate(names.EW_STREETS):
        y0 = -3000.0 + k * 500.0
        x_a, x_b = -3200.0 + rng.uniform(0, 1200), 3200.0 - rng.uniform(0, 1200)
        n = int((x_b - x_a) // 400) + 1
        pts = [(x_a + (x_b - x_a) * i / n, y0 + rng.uniform(-25, 25)) for i in range(n + 1)]
        streets.append(_polyline(len(streets), name, pts))
    for k, name in enumerate(names.NS_STREETS):
        x0 = -3200.0 + k * 533.0
        y_a, y_b = -3100.0 + rng.uniform(0, 1000), 3100.0 - rng.uniform(0, 1000)
        n = int((y_b - y_a) // 400) + 1
        pts = [(x0 + rng.uniform(-25, 25), y_a + (y_b - y_a) * i / n) for i in range(n + 1)]
        streets.append(_polyline(len(streets), name, pts))
    for k, name in enumerate(names.RIVER_STREETS):
        phase, shift = rng.uniform(0, math.pi), 300.0 * k
        pts = [
            (t, -0.76 * t + 350.0 * math.sin(t / 900.0 + phase) + shift)
            for t in (-3400.0 + 200.0 * i for i in range(35))
        ]
        streets.append(_polyline(len(streets), name, pts))
    return streets


def _admin_unit(x: float, y: float) -> tuple[int, int]:
    """(sub-district 1..6, community 1..4) of a point: 3 x 2 sub-districts, 2 x 2 communities."""
    col = 0 if x < -1100 else (1 if x < 1100 else 2)
    row = 0 if y < 0 else 1
    mid_x = (-2200.0, 0.0, 2200.0)[col]
    mid_y = (-1600.0, 1600.0)[row]
    community = (1 if x < mid_x else 2) + (0 if y < mid_y else 2)
    return row * 3 + col + 1, community


def _build_grids(admin_code: str, streets: list[Street]) -> dict[tuple[int, int], str]:
    cells: set[tuple[int, int]] = set()
    for st in streets:
        for k in range(int(st.length // 25.0) + 1):
            x, y = st.point_at(k * 25.0)
            cells.add((math.floor(x / GRID_SIZE_M), math.floor(y / GRID_SIZE_M)))
    grouped: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for cell in cells:
        centre = ((cell[0] + 0.5) * GRID_SIZE_M, (cell[1] + 0.5) * GRID_SIZE_M)
        grouped.setdefault(_admin_unit(*centre), []).append(cell)
    grids: dict[tuple[int, int], str] = {}
    for (sub, comm), members in sorted(grouped.items()):
        for seq, cell in enumerate(sorted(members, key=lambda c: (c[1], c[0])), 1):
            grids[cell] = f"{admin_code}{sub:03d}{comm:03d}{seq:03d}"
    return grids


def _build_addresses(plane: Plane, streets: list[Street]) -> list[Address]:
    out: list[Address] = []
    for st in streets:
        for k in range(int((st.length - 10.0) // ADDRESS_SPACING_M) + 1):
            s = 10.0 + k * ADDRESS_SPACING_M
            for side, number in ((18.0, 2 * k + 1), (-18.0, 2 * k + 2)):  # odd left, even right
                lat, lon = plane.to_wgs84(*st.point_at(s, side))
                out.append(
                    Address(f"{st.name}{number}号", st.index, s, round(lat, 6), round(lon, 6))
                )
    return out


class _DeviceMaker:
    """Allocates CJ/T 214 style ids (admin + major + minor + 6-digit serial) per code."""

    def __init__(self, admin_code: str, plane: Plane, streets: list[Street]) -> None:
        self.admin_code, self.plane, self.streets = admin_code, plane, streets
        self.serials: dict[str, int] = {}
        self.devices: list[Device] = []

    def add(
        self,
        code: str,
        device_type: str,
        street: int,
        s: float,
        lateral: float,
        component: str = "",
    ) -> Device:
        self.serials[code] = self.serials.get(code, 0) + 1
        x, y = self.streets[street].point_at(s, lateral)
        lat, lon = self.plane.to_wgs84(x, y)
        sub, comm = _admin_unit(x, y)
        device = Device(
            f"{self.admin_code}{code}{self.serials[code]:06d}",
            device_type,
            street,
            s,
            round(lat, 6),
            round(lon, 6),
            (sub - 1) * 4 + comm - 1,
            component,
        )
        self.devices.append(device)
        return device


def _build_devices(
    rng: random.Random, maker: _DeviceMaker, low_points: list[tuple[int, float]]
) -> None:
    minors = [m for m, _ in COVER_MINORS]
    weights = [w for _, w in COVER_MINORS]
    for st in maker.streets:
        s = rng.uniform(5, 40)
        while s < st.length:
            minor = rng.choices(minors, weights)[0]
            maker.add("01" + minor, "manhole_cover", st.index, s, rng.uniform(-4, 4), "C01" + minor)
            s += COVER_SPACING_M + rng.uniform(-20, 20)
        for k in range(int(st.length // POLE_SPACING_M)):
            s, lateral = 20.0 + k * POLE_SPACING_M, 12.0 if k % 2 else -12.0
            maker.add(POLE_CODE, "smart_pole", st.index, s, lateral)
            maker.add(LIGHT_CODE, "street_light", st.index, s, lateral, "C0118")
            if k % 3 == 0:
                maker.add(CAMERA_CODE, "camera", st.index, s, lateral)
    for street, s in low_points:
        maker.add(GAUGE_CODE, "water_level_gauge", street, s, 0.0)


def _build_inspectors(rng: random.Random, streets: list[Street]) -> list[Inspector]:
    out: list[Inspector] = []
    all_streets = tuple(range(len(streets)))
    for dept in DEPARTMENTS:
        order = list(all_streets)
        rng.shuffle(order)
        plan = [("head", 1, 6.0), ("chief", 3, 4.0), ("staff", 10, 1.3)]
        for role, count, speed in plan:
            for k in range(count):
                if role == "head":
                    beat = all_streets
                elif role == "chief":
                    beat = tuple(sorted(order[k::count]))
                else:  # 10 staff x 3 streets cover every street of the district
                    beat = tuple(sorted({order[(3 * k + j) % len(order)] for j in range(3)}))
                crs = rng.choices(CRS_NAMES, (0.15, 0.6, 0.25))[0]
                pace = speed if role != "staff" or rng.random() < 0.5 else 3.5  # foot or e-bike
                out.append(Inspector(f"INS-{len(out) + 1:03d}", role, dept, crs, pace, beat))
    return out


def build_district(seed: int = DISTRICT_SEED, name: str = "qibin") -> District:
    """Build the synthetic district for ``seed`` (deterministic)."""
    spec = load_district_spec(name)
    origin = spec["origin"]
    bounds = spec["bounds"]
    assert isinstance(origin, dict) and isinstance(bounds, dict)
    rng = random.Random(f"district:{name}:{seed}")
    plane = Plane(float(origin["lat"]), float(origin["lon"]))
    admin_code = str(spec["admin_code"])
    streets = _build_streets(rng)
    low_points = []
    for _ in range(LOW_POINTS):
        st = rng.choice(streets)
        low_points.append((st.index, round(rng.uniform(50, st.length - 50), 1)))
    maker = _DeviceMaker(admin_code, plane, streets)
    _build_devices(rng, maker, low_points)
    district = District(
        name=name,
        admin_code=admin_code,
        timezone=str(spec["timezone"]),
        plane=plane,
        bounds={k: float(v) for k, v in bounds.items()},
        streets=streets,
        grids=_build_grids(admin_code, streets),
        addresses=_build_addresses(plane, streets),
        devices=maker.devices,
        inspectors=_build_inspectors(rng, streets),
        low_points=low_points,
        gateways=len(names.SUBDISTRICT_NAMES) * 4,
    )
    for device in district.devices:
        district.by_type.setdefault(device.device_type, []).append(device)
    for address in district.addresses:
        district.addresses_by_street.setdefault(address.street, []).append(address)
    return district
