"""From incidents to report drafts: what each channel sees of a problem, and when.

* sensors: the devices that see the problem alarm repeatedly while it lasts;
* citizens: call the hotline late (minutes to hours), vaguely (an address or a jittered
  position), sometimes under a neighbouring service code;
* patrols: report when they walk past (GPS jitter, the terminal's declared CRS) and often
  fix small problems on the spot, which ends the incident early.

A draft carries the incident id for the truth file; ids of the records themselves are given
later, in arrival order (:mod:`streams.simulator.encode`).
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from streams.simulator.catalog import Catalog
from streams.simulator.district import Device, District, Inspector
from streams.simulator.geo import to_declared_crs
from streams.simulator.incidents import Incident, Scenario
from streams.simulator.patrols import Leg

__all__ = ["Draft", "Reporter"]

GATEWAY_WINDOW_MS = 30_000  # a batching gateway forwards what it collected every 30 s
MAX_ALARMS_PER_DEVICE = 300
ALARM_INTERVAL_S = {
    "manhole_cover": 180,
    "street_light": 300,
    "camera": 60,
    "smart_pole": 120,
    "water_level_gauge": 120,
}
# alarm type -> (reading name, low, high)
READINGS = {
    "cover_tilt": ("tilt_deg", 12, 75),
    "cover_open": ("open_mm", 20, 300),
    "cover_missing": ("distance_cm", 0, 10),
    "cover_damaged": ("shock_g", 1.5, 8),
    "water_level_high": ("level_cm", 30, 180),
    "waterlogging": ("depth_cm", 10, 60),
    "light_failure": ("current_a", 0, 0.05),
    "pole_tilt": ("tilt_deg", 5, 30),
    "site_dust": ("pm10_ugm3", 150, 600),
    "fallen_tree": ("confidence", 0.7, 0.99),
}
LATE_CALL_MIN_S = 6 * 3600 + 1  # a forwarded ticket: more than 6 h ...
LATE_CALL_MAX_S = 3 * 86400  # ... and up to 3 days after the call
OUTAGE_GATEWAY_SHARE = 0.25  # the gateways of the area the power cut hits
CALL_SUFFIXES = ("", "，请尽快处理", "，影响通行", "，好几天了没人管", "，很危险")
SECOND_REPORT_PROB = 0.1  # a later patrol reports an already reported, unfixed problem


@dataclass(slots=True)
class Draft:
    source: str  # sensor | hotline | patrol
    event_ms: int
    arrival_ms: int
    incident_id: str
    group: int  # 0, or gateway + 1 for alarms forwarded in a gateway batch
    fields: dict[str, Any]


LegLookup = Callable[[int, int, int], list[tuple[Leg, Inspector]]]


class Reporter:
    """Turns one incident into the drafts of every channel (deterministic per incident)."""

    def __init__(self, seed: int, district: District, catalog: Catalog, scenario: Scenario) -> None:
        self.seed, self.district, self.catalog, self.scenario = seed, district, catalog, scenario
        self.address_s = {k: [a.s for a in v] for k, v in district.addresses_by_street.items()}
        self.tz = ZoneInfo(district.timezone)
        picker = random.Random(f"outage:{seed}")
        self.outage_gateways = frozenset(
            g for g in range(district.gateways) if picker.random() < OUTAGE_GATEWAY_SHARE
        )

    def drafts(self, inc: Incident, legs: LegLookup) -> list[Draft]:
        """All drafts of ``inc``; may end it early (patrol fix), so call before recurrence."""
        rng = random.Random(f"{self.seed}:{inc.incident_id}")
        out = self._patrol(inc, rng, legs(inc.street, inc.start_ms, inc.end_ms))
        for device, alarm_type in inc.devices:
            out.extend(self._sensor(inc, rng, device, alarm_type))
        out.extend(self._hotline(inc, rng))
        if self.scenario.late_call_share or self.scenario.outage_hours:
            self._delay(inc, out)
        return out

    # -- late delivery ---------------------------------------------------------------------
    def _delay(self, inc: Incident, drafts: list[Draft]) -> None:
        """Late arrivals of the scenario, from a generator of their own: everything else
        is what the scenario without delays gives."""
        rng = random.Random(f"late:{self.seed}:{inc.incident_id}")
        share = self.scenario.late_call_share
        for d in drafts:
            if d.source == "hotline" and rng.random() < share:
                d.arrival_ms = d.event_ms + int(
                    rng.uniform(LATE_CALL_MIN_S, LATE_CALL_MAX_S) * 1000
                )
            elif d.source == "sensor" and d.fields["device"].gateway in self.outage_gateways:
                d.arrival_ms = max(d.arrival_ms, self._outage_end(d.event_ms))

    def _outage_end(self, t_ms: int) -> int:
        """End of the power cut if ``t_ms`` falls in it (the buffer goes out then), else 0."""
        if self.scenario.outage_hours <= 0:
            return 0
        day = datetime.fromtimestamp(t_ms / 1000, self.tz).date()
        start = datetime.combine(day, time(0, 0), tzinfo=self.tz) + timedelta(
            hours=self.scenario.outage_start_h
        )
        start_ms = int(start.timestamp() * 1000)
        end_ms = start_ms + int(self.scenario.outage_hours * 3_600_000)
        return end_ms if start_ms <= t_ms < end_ms else 0

    # -- patrols ---------------------------------------------------------------------------
    def _patrol(
        self, inc: Incident, rng: random.Random, legs: list[tuple[Leg, Inspector]]
    ) -> list[Draft]:
        passes = []
        for leg, who in legs:
            t = leg.pass_time(inc.s)
            if t is not None and inc.start_ms <= t < inc.end_ms:
                passes.append((t, who.inspector_id, who))
        passes.sort(key=lambda p: (p[0], p[1]))
        out: list[Draft] = []
        for t, _, who in passes:
            notice = inc.profile.notice * (0.5 if who.role == "head" else 1.0)
            if rng.random() >= (SECOND_REPORT_PROB if out else notice):
                continue
            fixed = rng.random() < inc.profile.fix
            ts = t + int(rng.uniform(30, 300) * 1000)  # filling in the form
            out.append(self._patrol_draft(inc, rng, who, ts, fixed))
            if fixed:
                inc.end_ms, inc.fixed_by = ts, "patrol"
                break
        return out

    def _patrol_draft(
        self, inc: Incident, rng: random.Random, who: Inspector, ts: int, fixed: bool
    ) -> Draft:
        x, y = self.district.plane.from_wgs84(inc.lat, inc.lon)
        lat, lon = self.district.lat_lon(x + rng.gauss(0, 6), y + rng.gauss(0, 6))
        lat, lon = to_declared_crs(who.crs, lat, lon)
        category = inc.key
        near = self.catalog.compatible.get(inc.key, ())
        if near and rng.random() < 0.05:  # the inspector picks a neighbouring category
            category = rng.choice(near)
        street = self.district.streets[inc.street].name
        note = f"{street}{self.catalog.names_zh[category]}" + ("，已现场处置" if fixed else "")
        upload = rng.uniform(1, 20) if rng.random() < 0.8 else rng.uniform(60, 1800)  # offline
        fields = {
            "inspector": who,
            "category": category,
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "fixed": fixed,
            "note": note,
            "photos": 1 + (rng.random() < 0.3),
        }
        return Draft("patrol", ts, ts + int(upload * 1000), inc.incident_id, 0, fields)

    # -- sensors ---------------------------------------------------------------------------
    def _sensor(
        self, inc: Incident, rng: random.Random, device: Device, alarm_type: str
    ) -> list[Draft]:
        interval = ALARM_INTERVAL_S[device.device_type] / self.scenario.alarm_speedup * 1000
        reading, lo, hi = READINGS.get(alarm_type, ("confidence", 0.7, 0.99))
        batched = self.district.batching_gateway(device.gateway)
        storm = self.scenario.alarm_speedup > 1.0
        t = inc.start_ms + int(rng.uniform(5, 90) * 1000)
        out: list[Draft] = []
        while t < inc.end_ms and len(out) < MAX_ALARMS_PER_DEVICE:
            delay = rng.uniform(0.2, 3.0)
            if storm and rng.random() < 0.05:  # congested backhaul during the storm
                delay += rng.uniform(30, 600)
            arrival = t + int(delay * 1000)
            if batched:
                arrival = -(-arrival // GATEWAY_WINDOW_MS) * GATEWAY_WINDOW_MS
            value = round(rng.uniform(lo, hi), 2)
            fields = {"device": device, "alarm_type": alarm_type, "readings": {reading: value}}
            group = device.gateway + 1 if batched else 0
            out.append(Draft("sensor", t, arrival, inc.incident_id, group, fields))
            t += int(interval * rng.uniform(0.9, 1.1))
        return out

    # -- hotline ---------------------------------------------------------------------------
    def _hotline(self, inc: Incident, rng: random.Random) -> list[Draft]:
        calls = inc.profile.calls * self.scenario.call_factor
        n = sum(1 for _ in range(8) if rng.random() < calls / 8)  # binomial, at most 8 calls
        out = []
        for _ in range(n):
            t = inc.start_ms + int((120 + 2400 * math.exp(rng.gauss(0, 0.9))) * 1000)
            if t >= inc.end_ms:
                continue  # fixed before anyone called
            out.append(self._call(inc, rng, t))
        return out

    def _service_code(self, key: str, rng: random.Random) -> str:
        own, near = self.catalog.hotline_codes(key)
        if own and (rng.random() < 0.85 or not near):
            return own[0] if rng.random() < 0.9 or len(own) == 1 else rng.choice(own[1:])
        if not near:
            raise ValueError(f"no Open311 service code maps to {key} or a compatible category")
        return rng.choice(near)

    def _call(self, inc: Incident, rng: random.Random, t: int) -> Draft:
        dist = min(50.0 * math.exp(rng.gauss(0, 0.7)), 250.0)
        angle = rng.uniform(0, 2 * math.pi)
        x, y = self.district.plane.from_wgs84(inc.lat, inc.lon)
        lat, lon = self.district.lat_lon(x + dist * math.cos(angle), y + dist * math.sin(angle))
        s_list = self.address_s[inc.street]
        k = bisect.bisect_left(s_list, inc.s + rng.uniform(-dist, dist))
        address = self.district.addresses_by_street[inc.street][min(k, len(s_list) - 1)].text
        mode = rng.random()  # 55% address only, 30% both, 15% coordinates only
        code = self._service_code(inc.key, rng)
        name_zh = self.catalog.names_zh[self.catalog.code_category[code]]
        fields = {
            "service_code": code,
            "description": f"{address}附近{name_zh}{rng.choice(CALL_SUFFIXES)}",
            "address": address if mode < 0.85 else None,
            "lat": round(lat, 6) if mode >= 0.55 else None,
            "long": round(lon, 6) if mode >= 0.55 else None,
        }
        arrival = t + int(rng.uniform(5, 60) * 1000)
        return Draft("hotline", t, arrival, inc.incident_id, 0, fields)
