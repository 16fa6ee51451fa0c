"""Which places already have a problem: the simulator's rule for one incident per problem.

The centre's definition of "the same problem" is the category table's: a compatible
category, within the radius, within the time window of the last report. Without a case
closure, no one (no dispatcher, no algorithm) can tell a second incident at a spot that
still has a live one from the first. So the simulator never starts an incident where a
compatible one is still live (started, and not yet ended plus the window): a lamp cannot
break again while it is broken, and a flooded underpass floods once per storm.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from streams.reference.categories import CategoryTable

__all__ = ["Occupancy"]

_M_PER_DEG_LAT = 111_320.0


@dataclass
class Occupancy:
    """Live incidents by category: (lat, lon, start_ms, live_until_ms, devices)."""

    radius_m: dict[str, float]
    window_ms: dict[str, int]
    compatible: dict[str, tuple[str, ...]]
    _live: dict[str, list[tuple[float, float, int, int, frozenset[str]]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @classmethod
    def from_table(cls, table: CategoryTable) -> Occupancy:
        cats = table.by_key.values()
        return cls(
            radius_m={c.key: float(c.radius_m) for c in cats},
            window_ms={c.key: int(c.window_s) * 1000 for c in cats},
            compatible={c.key: (c.key, *c.compatible_with) for c in cats},
        )

    def _near(
        self, key: str, lat: float, lon: float, other_lat: float, other_lon: float, other_key: str
    ) -> bool:
        radius = max(self.radius_m.get(key, 0.0), self.radius_m.get(other_key, 0.0))
        dy = (lat - other_lat) * _M_PER_DEG_LAT
        dx = (lon - other_lon) * _M_PER_DEG_LAT * math.cos(math.radians(lat))
        # Twice the radius: reports scatter around the spot by up to a radius each way.
        return dx * dx + dy * dy <= (2.0 * radius) ** 2

    def taken(
        self, key: str, lat: float, lon: float, start_ms: int, devices: frozenset[str]
    ) -> bool:
        """True when a compatible live incident (or the same device) blocks a new one."""
        if self.radius_m.get(key, 0.0) <= 0:
            return False
        for other in self.compatible.get(key, (key,)):
            live = self._live.get(other, [])
            live[:] = [x for x in live if x[3] >= start_ms]  # drop the no longer live
            for o_lat, o_lon, o_start, _, o_devices in live:
                if o_start > start_ms + self.window_ms.get(key, 0):
                    continue
                if devices & o_devices or self._near(key, lat, lon, o_lat, o_lon, other):
                    return True
        return False

    def quiet_ms(self, key: str) -> int:
        """How long a spot must stay quiet before a new incident there is a new problem."""
        return max(self.window_ms.get(k, 0) for k in self.compatible.get(key, (key,)))

    def add(
        self, key: str, lat: float, lon: float, start_ms: int, end_ms: int, devices: frozenset[str]
    ) -> None:
        self._live[key].append((lat, lon, start_ms, end_ms + self.quiet_ms(key), devices))
