"""The simulation loop: day by day, incidents -> drafts -> records in arrival order.

Every report arrives after its incident started, so once the incidents of day ``d`` are
drafted, every draft arriving before midnight of ``d`` is final: a heap holds the rest and
memory stays bounded to about one day of drafts whatever the number of days. Likewise
:meth:`feed` makes the terminal batches of day ``d``'s walked patrols at the end of day
``d`` (streams/simulator/track_feed.py): each arrives after its pings, so none can arrive
before midnight of the day before, and the two streams merge in arrival order.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import TypeVar, cast
from zoneinfo import ZoneInfo

from streams.reference.campaigns import CampaignTable
from streams.reference.categories import CategoryTable
from streams.simulator.catalog import Catalog, load_catalog
from streams.simulator.district import District, Inspector, build_district
from streams.simulator.encode import Encoder
from streams.simulator.incidents import (
    SCENARIOS,
    DeviceIndex,
    Incident,
    start_incidents,
)
from streams.simulator.occupancy import Occupancy
from streams.simulator.patrols import Leg, Patrol, Shirking, schedule_day
from streams.simulator.records import SimRecord, TrackRecord
from streams.simulator.reports import Draft, Reporter
from streams.simulator.track_feed import TrackFeed

__all__ = ["DEFAULT_MAX_PAYLOAD", "Simulation", "generate"]

R = TypeVar("R", SimRecord, TrackRecord, SimRecord | TrackRecord)

DEFAULT_MAX_PAYLOAD = 64 * 1024
LOOKAHEAD_DAYS = 3  # patrols of this many days after an incident's day may still pass it


class Simulation:
    """One scenario run. Iterate :meth:`records` (the reports) or :meth:`feed` (the reports
    and the patrol terminals' position pings; the reports are the same). Afterwards
    ``incidents``, ``patrols`` and ``planned`` hold the ground truth of the whole run:
    incidents that started within it, patrols walked in it, and every patrol planned in it.

    ``shirkers``: the share of each role's inspectors who skip a day's patrols now and then
    and so miss their patrol rule (``shirkers`` names them; their skipped patrols are in
    ``planned`` with ``walked=False``). 0, the default, keeps everyone to the rules.

    The campaign scenario boosts, each day, the categories of the campaigns of the calendar
    (``campaigns``, default streams/data/campaigns.csv) running that day, district-wide (a
    campaign's streets or areas are not simulated); ``theme`` (a theme of the calendar)
    boosts that theme's categories every day of the run instead."""

    def __init__(
        self,
        scenario: str = "ordinary",
        seed: int = 1,
        scale: float = 1.0,
        *,
        start: date | None = None,
        days: int | None = None,
        bad_share: float = 0.01,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD,
        theme: str | None = None,
        shirkers: float = 0.0,
        district: District | None = None,
        catalog: Catalog | None = None,
        campaigns: CampaignTable | None = None,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)}")
        self.campaigns = campaigns or CampaignTable.load()
        themes = self.campaigns.themes()
        if theme is not None and theme not in themes:
            raise ValueError(f"unknown campaign theme {theme!r}; choose from {sorted(themes)}")
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        if not 0.0 <= bad_share <= 1.0:
            raise ValueError(f"bad share {bad_share} outside [0, 1]")
        self.scenario = SCENARIOS[scenario]
        self.seed, self.scale = seed, scale
        self.start = start or self.scenario.default_start
        self.days = self.scenario.default_days if days is None else days
        if self.days < 1:
            raise ValueError(f"days must be >= 1, got {self.days}")
        self.theme = themes[theme] if theme is not None else None
        self.district = district or build_district()
        self.catalog = catalog or load_catalog()
        self.tz = ZoneInfo(self.district.timezone)
        self.bad_share, self.max_payload = bad_share, max_payload_bytes
        self.incidents: list[Incident] = []
        self.patrols: list[Patrol] = []
        self._schedules: dict[date, dict[int, list[tuple[Leg, Inspector]]]] = {}
        self.planned: list[Patrol] = []  # every patrol planned in the run, walked or not
        self._day_patrols: dict[date, list[Patrol]] = {}
        self.shirking = Shirking.pick(self.district, seed, shirkers)

    @property
    def shirkers(self) -> frozenset[str]:
        """The inspectors made to skip patrol days, so to miss their patrol rule."""
        return self.shirking.inspectors

    @property
    def start_ms(self) -> int:
        return self._midnight_ms(self.start)

    @property
    def end_ms(self) -> int:
        return self._midnight_ms(self.start + timedelta(days=self.days))

    def boosted(self, day: date) -> tuple[str, ...]:
        """The categories the scenario boosts on ``day`` (its campaigns' or the theme's)."""
        if self.scenario.name != "campaign":
            return ()
        if self.theme is not None:
            return self.theme
        return tuple(sorted({k for c in self.campaigns.running_on(day) for k in c.categories}))

    def _midnight_ms(self, day: date) -> int:
        return int(datetime.combine(day, time(0, 0), tzinfo=self.tz).timestamp() * 1000)

    def _legs_of(self, day: date) -> dict[int, list[tuple[Leg, Inspector]]]:
        if day not in self._schedules:
            patrols = schedule_day(
                self.district, self.seed, day, self.scenario.extra_shifts, self.shirking
            )
            if self.start <= day < self.start + timedelta(days=self.days):
                self.planned.extend(patrols)
                self.patrols.extend(p for p in patrols if p.walked)
            self._day_patrols[day] = patrols
            by_street: dict[int, list[tuple[Leg, Inspector]]] = {}
            for p in patrols:
                if not p.walked:
                    continue
                for leg in p.legs:
                    by_street.setdefault(leg.street, []).append((leg, p.inspector))
            self._schedules[day] = by_street
        return self._schedules[day]

    def _legs_near(self, street: int, start_ms: int, end_ms: int) -> list[tuple[Leg, Inspector]]:
        first = datetime.fromtimestamp(start_ms / 1000, self.tz).date()
        out: list[tuple[Leg, Inspector]] = []
        for k in range(LOOKAHEAD_DAYS + 1):
            day = first + timedelta(days=k)
            if self._midnight_ms(day) >= end_ms:
                break
            out.extend(self._legs_of(day).get(street, ()))
        return out

    def _recurrence(
        self, inc: Incident, rng: random.Random, next_id: list[int], quiet_ms: int
    ) -> Incident:
        next_id[0] += 1
        # A vendor back after lunch, a cover knocked loose again days later; always after
        # the spot has been quiet for the category's window (see occupancy.py).
        later_h = rng.uniform(1, 6) if rng.random() < 0.3 else rng.uniform(12, 96)
        start = inc.end_ms + quiet_ms + int(later_h * 3_600_000)
        length = inc.end_ms - inc.start_ms if inc.fixed_by == "department" else 3_600_000
        return Incident(
            f"INC{next_id[0]:07d}",
            inc.key,
            inc.profile,
            inc.street,
            inc.s,
            inc.lat,
            inc.lon,
            start,
            start + max(length, 600_000),
            list(inc.devices),
            recurrence_of=inc.incident_id,
        )

    def records(self) -> Iterator[SimRecord]:
        """Every raw report of the run, ordered by arrival time (deterministic by seed)."""
        return cast(Iterator[SimRecord], self._run(None))

    def feed(self) -> Iterator[SimRecord | TrackRecord]:
        """The reports of :meth:`records` (the same ones) and the patrol terminals' batches
        of position pings (``raw.patrol_track``), merged in arrival order."""
        return self._run(TrackFeed(self.district, self.seed, self.bad_share))

    def by_day(self, records: Iterable[R]) -> Iterator[list[R]]:
        """``records`` (of :meth:`records` or :meth:`feed`) in one list per simulated day
        of arrival; what arrives after the last day goes with it. The demo and the tests
        feed a day at a time so the case loop answers before the next day comes."""
        day_ms, current = 86_400_000, 0
        batch: list[R] = []
        for rec in records:
            day = min((rec.arrival_ms - self.start_ms) // day_ms, self.days - 1)
            if day != current and batch:
                yield batch
                batch = []
            current = day
            batch.append(rec)
        if batch:
            yield batch

    def _run(self, tracks: TrackFeed | None) -> Iterator[SimRecord | TrackRecord]:
        reporter = Reporter(self.seed, self.district, self.catalog, self.scenario)
        encoder = Encoder(self.district, self.catalog, self.seed, self.bad_share, self.max_payload)
        index = DeviceIndex(self.district)
        next_id, counter = [0], 0
        occupancy = Occupancy.from_table(CategoryTable.load())
        heap: list[tuple[int, int, int, Draft]] = []
        pending: list[Incident] = []  # recurrences, by start time
        for k in range(self.days):
            day = self.start + timedelta(days=k)
            rng = random.Random(f"incidents:{self.seed}:{day.isoformat()}")
            fresh = start_incidents(
                rng,
                day,
                self.scenario,
                self.scale,
                self.boosted(day),
                self.district,
                index,
                self.catalog,
                next_id,
            )
            midnight = self._midnight_ms(day + timedelta(days=1))
            due = [inc for inc in pending if inc.start_ms < midnight]
            pending = [inc for inc in pending if inc.start_ms >= midnight]
            todays = [(inc.start_ms, inc.incident_id, inc) for inc in fresh + due]
            heapq.heapify(todays)
            while todays:
                inc = heapq.heappop(todays)[2]
                devices = frozenset(d.device_id for d, _ in inc.devices)
                if occupancy.taken(inc.key, inc.lat, inc.lon, inc.start_ms, devices):
                    continue  # the spot already has this problem: not a new incident
                for d in reporter.drafts(inc, self._legs_near):
                    counter += 1
                    heapq.heappush(heap, (d.arrival_ms, d.group, counter, d))
                self.incidents.append(inc)
                occupancy.add(inc.key, inc.lat, inc.lon, inc.start_ms, inc.end_ms, devices)
                if rng.random() < inc.profile.recur:
                    again = self._recurrence(inc, rng, next_id, occupancy.quiet_ms(inc.key))
                    if again.start_ms < midnight:  # back the same day: handle it today
                        heapq.heappush(todays, (again.start_ms, again.incident_id, again))
                    else:
                        pending.append(again)
            reports = encoder.emit(_pop_until(heap, midnight))
            if tracks is None:
                yield from reports
                continue
            self._legs_of(day)  # a day no incident asked about is still patrolled
            tracks.walk_day(p for p in self._day_patrols[day] if p.walked)
            yield from _merged(reports, tracks.pop_until(midnight))
        reports = encoder.emit(_pop_until(heap, None))
        yield from reports if tracks is None else _merged(reports, tracks.pop_until(None))


def _arrival(record: SimRecord | TrackRecord) -> int:
    return record.arrival_ms


def _merged(
    reports: Iterator[SimRecord], batches: Iterator[TrackRecord]
) -> Iterator[SimRecord | TrackRecord]:
    """Both in arrival order; a report before a batch arriving at the same millisecond."""
    first: Iterator[SimRecord | TrackRecord] = reports
    second: Iterator[SimRecord | TrackRecord] = batches
    return heapq.merge(first, second, key=_arrival)


def _pop_until(heap: list[tuple[int, int, int, Draft]], limit: int | None) -> list[Draft]:
    out = []
    while heap and (limit is None or heap[0][0] < limit):
        out.append(heapq.heappop(heap)[3])
    return out


def generate(
    scenario: str = "ordinary", seed: int = 1, scale: float = 1.0, **options: object
) -> Iterator[SimRecord]:
    """Shorthand for ``Simulation(scenario, seed, scale, **options).records()``."""
    return Simulation(scenario, seed, scale, **options).records()  # type: ignore[arg-type]
