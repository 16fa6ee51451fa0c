"""Patrol schedules: who walks which street stretch when.

The rules the centre is judged by (DOMAIN.md): department heads patrol at least three times a
week, section chiefs daily; patrol staff walk their beat twice a day (more on a typhoon day
or in an enforcement campaign). A day's schedule depends only on (seed, date, intensity,
shirking), so any day can be rebuilt on demand.

With :class:`Shirking`, some inspectors skip a day's patrols now and then and so miss their
rule: their patrols are planned as usual and kept with ``walked=False``. Everything else
of the schedule (the others' patrols, all patrol ids) is what it is without shirking.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from streams.simulator.district import District, Inspector

__all__ = [
    "HEAD_WEEKDAYS",
    "PLANNED",
    "SHIFTS",
    "SKIP_PROB",
    "Leg",
    "Patrol",
    "Shirking",
    "schedule_day",
]

HEAD_WEEKDAYS = (0, 2, 4)  # Mon, Wed, Fri: any 7 consecutive days hold all three
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
HEAD_EXTRA_PROB = 0.2  # a head also patrols on an unplanned day (on top of the roster)
# The shift calendar per role, as the roster file says it (streams/simulator/roster_file.py):
# (weekdays, shifts). Staff add the scenario's extra shifts (typhoon, campaign).
PLANNED: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "head": (HEAD_WEEKDAYS, ("morning",)),
    "chief": (EVERY_DAY, ("afternoon",)),
    "staff": (EVERY_DAY, ("morning", "afternoon")),
}
SKIP_PROB = {"head": 0.7, "chief": 0.4, "staff": 0.4}  # a shirker skips the day's patrols
# (earliest start, latest start) as minutes after midnight, per shift
SHIFTS = {
    "morning": (8 * 60, 9 * 60 + 30),
    "afternoon": (14 * 60, 15 * 60 + 30),
    "evening": (18 * 60 + 30, 19 * 60 + 30),
}


@dataclass(frozen=True)
class Leg:
    """One straight walk along a street from ``s0`` to ``s1`` starting at ``t0_ms``."""

    street: int
    s0: float
    s1: float
    t0_ms: int
    speed_mps: float

    @property
    def t1_ms(self) -> int:
        return self.t0_ms + int(abs(self.s1 - self.s0) / self.speed_mps * 1000)

    def pass_time(self, s: float) -> int | None:
        """When the walker is abreast of position ``s``, or None if the leg misses it."""
        if not min(self.s0, self.s1) <= s <= max(self.s0, self.s1):
            return None
        return self.t0_ms + int(abs(s - self.s0) / self.speed_mps * 1000)


@dataclass(frozen=True)
class Patrol:
    patrol_id: str
    inspector: Inspector
    day: date
    shift: str
    legs: tuple[Leg, ...]
    walked: bool = True  # False: planned, but the inspector skipped it (Shirking)

    @property
    def start_ms(self) -> int:
        return self.legs[0].t0_ms

    @property
    def end_ms(self) -> int:
        return self.legs[-1].t1_ms

    @property
    def length_m(self) -> float:
        return sum(abs(leg.s1 - leg.s0) for leg in self.legs)


@dataclass(frozen=True)
class Shirking:
    """The inspectors who skip a day's patrols now and then (ground truth of rule misses)."""

    inspectors: frozenset[str]
    seed: int

    @classmethod
    def pick(cls, district: District, seed: int, share: float) -> Shirking:
        """``share`` of each role's inspectors (at least one per role when > 0)."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"shirker share {share} outside [0, 1]")
        rng = random.Random(f"shirkers:{seed}")
        chosen: set[str] = set()
        for role in PLANNED:
            ids = [w.inspector_id for w in district.inspectors if w.role == role]
            if share > 0:
                chosen.update(rng.sample(ids, max(1, round(share * len(ids)))))
        return cls(frozenset(chosen), seed)

    def skips(self, who: Inspector, day: date) -> bool:
        if who.inspector_id not in self.inspectors:
            return False
        rng = random.Random(f"skip:{self.seed}:{day.isoformat()}:{who.inspector_id}")
        return rng.random() < SKIP_PROB[who.role]


def _epoch_ms(day: date, minute: float, tz: ZoneInfo) -> int:
    base = datetime.combine(day, time(0, 0), tzinfo=tz)
    return int(base.timestamp() * 1000 + minute * 60_000)


def _legs(
    rng: random.Random, district: District, who: Inspector, day: date, shift: str, tz: ZoneInfo
) -> tuple[Leg, ...]:
    lo, hi = SHIFTS[shift]
    t_ms = _epoch_ms(day, rng.uniform(lo, hi), tz)
    streets = rng.sample(who.beat, k=min(len(who.beat), rng.randint(1, 3)))
    legs = []
    for street in streets:
        length = district.streets[street].length
        walk = min(length, who.speed_mps * rng.uniform(40, 70) * 60)
        s0 = rng.uniform(0, length - walk)
        s0, s1 = (s0, s0 + walk) if rng.random() < 0.5 else (s0 + walk, s0)
        leg = Leg(street, round(s0, 1), round(s1, 1), t_ms, who.speed_mps)
        legs.append(leg)
        t_ms = leg.t1_ms + int(rng.uniform(5, 12) * 60_000)  # moving to the next street
    return tuple(legs)


def _shifts(who: Inspector, day: date, rng: random.Random, extra: tuple[str, ...]) -> list[str]:
    days, planned = PLANNED[who.role]
    shifts = list(planned)
    if who.role == "head":
        go = day.weekday() in days or rng.random() < HEAD_EXTRA_PROB
        return shifts if go else []
    if day.weekday() not in days:
        return []
    if who.role == "chief":
        return shifts
    return shifts + [s for s in extra if s not in shifts]


def schedule_day(
    district: District,
    seed: int,
    day: date,
    extra_shifts: tuple[str, ...] = (),
    shirking: Shirking | None = None,
) -> list[Patrol]:
    """Every patrol planned for ``day``, walked or (by a shirker) skipped. ``extra_shifts``
    adds staff shifts (e.g. ``("evening",)``)."""
    tz = ZoneInfo(district.timezone)
    rng = random.Random(f"patrols:{seed}:{day.isoformat()}")
    patrols: list[Patrol] = []
    for who in district.inspectors:
        skipped = shirking is not None and shirking.skips(who, day)
        for shift in _shifts(who, day, rng, extra_shifts):
            legs = _legs(rng, district, who, day, shift, tz)
            pid = f"PT{day:%Y%m%d}-{len(patrols) + 1:04d}"
            patrols.append(Patrol(pid, who, day, shift, legs, walked=not skipped))
    return patrols
