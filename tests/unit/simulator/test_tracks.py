"""The simulated patrol track feed: realistic pings, truth that intake agrees with, rule misses."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, timedelta

import numpy as np
import orjson
import pytest

from streams.contracts.topics import PATROL_TRACK
from streams.intake.tracks import TrackConfig, TrackIntake
from streams.reference import geo
from streams.reference.geo import District as RefDistrict
from streams.reference.inspectors import InspectorRoster
from streams.simulator import SimRecord, Simulation
from streams.simulator.bad_pings import BATCH_KINDS, POINT_KINDS
from streams.simulator.district import District, Street
from streams.simulator.records import TrackRecord

START = date(2023, 7, 24)  # a Monday: the run is one calendar week
WEEK = 7
M_PER_DEG = 111_195.0


@pytest.fixture(scope="module")
def week(district: District) -> tuple[Simulation, list[SimRecord | TrackRecord]]:
    sim = Simulation(
        "ordinary", 5, 0.02, start=START, days=WEEK, bad_share=0.03, shirkers=0.1, district=district
    )
    return sim, list(sim.feed())


def _batches(run: tuple[Simulation, list[SimRecord | TrackRecord]]) -> list[TrackRecord]:
    return [r for r in run[1] if isinstance(r, TrackRecord)]


def _to_polyline(street: Street, x: float, y: float) -> float:
    """Distance in metres from (x, y) to the street's centre line."""
    xs, ys = np.array(street.xs), np.array(street.ys)
    ax, ay, dx, dy = xs[:-1], ys[:-1], np.diff(xs), np.diff(ys)
    f = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return float(np.hypot(ax + f * dx - x, ay + f * dy - y).min())


def test_the_reports_are_those_of_records_and_all_arrive_in_order(
    district: District, week: tuple[Simulation, list[SimRecord | TrackRecord]]
) -> None:
    _, feed = week
    again = Simulation(
        "ordinary", 5, 0.02, start=START, days=WEEK, bad_share=0.03, shirkers=0.1, district=district
    )
    reports = [(r.key, r.value, r.arrival_ms, r.truth) for r in feed if isinstance(r, SimRecord)]
    assert reports == [(r.key, r.value, r.arrival_ms, r.truth) for r in again.records()]
    arrivals = [r.arrival_ms for r in feed]
    assert arrivals == sorted(arrivals)
    batches = _batches(week)
    assert len(batches) > 10_000 and all(b.topic == PATROL_TRACK for b in batches)
    assert [t.source_seq for b in batches for t in b.truth[:1]] == list(range(len(batches)))


def test_same_seed_same_bytes(
    district: District, week: tuple[Simulation, list[SimRecord | TrackRecord]]
) -> None:
    def first_day(seed: int) -> list[tuple[bytes, bytes, int]]:
        sim = Simulation("ordinary", seed, 0.02, start=START, days=1, district=district)
        return [(r.key, r.value, r.arrival_ms) for r in sim.feed() if isinstance(r, TrackRecord)]

    one = first_day(5)
    assert one == first_day(5) and one != first_day(6)


def test_every_ping_gets_from_intake_what_the_truth_says(
    week: tuple[Simulation, list[SimRecord | TrackRecord]],
) -> None:
    batches = _batches(week)
    intake = TrackIntake(TrackConfig(), RefDistrict.load("qibin"), InspectorRoster.load().ids())
    result = intake.parse(
        [b.value for b in batches],
        ingest_ms=[b.arrival_ms for b in batches],
        origins=[(0, b.truth[0].source_seq) for b in batches],
    )
    got: dict[tuple[int, int], str] = {}
    whole: dict[int, str] = {}
    for d in result.dead_letters:
        m = re.match(r"points\[(\d+)\]: ", d.message)
        if m:
            got[(d.index, int(m.group(1)))] = d.reason.value
        else:
            whole[d.index] = d.reason.value
    for p in result.points.points:
        got[(int(p["origin_seq"]) - 1, int(p["origin_point"]))] = ""
    rows = [t for b in batches for t in b.truth]
    assert len(got) + sum(len(b.truth) for b in batches if b.truth[0].whole_batch) == len(rows)
    wrong = [
        (t, whole.get(t.source_seq) if t.whole_batch else got.get((t.source_seq, t.point)))
        for t in rows
        if t.expected_reason
        != (whole.get(t.source_seq) if t.whole_batch else got.get((t.source_seq, t.point)))
    ]
    assert wrong == []
    kinds = Counter(t.expected_reason for t in rows)
    assert {k.value for k in POINT_KINDS + BATCH_KINDS} <= set(kinds)
    assert 0.02 < 1 - kinds[""] / len(rows) < 0.1


def test_pings_walk_the_streets_with_gps_noise_gaps_and_late_batches(
    district: District, week: tuple[Simulation, list[SimRecord | TrackRecord]]
) -> None:
    batches = _batches(week)
    late, crs_seen = 0, Counter()
    sent: dict[str, list[tuple[float, float, float, float, float]]] = defaultdict(list)
    by_device: dict[str, list[int]] = defaultdict(list)
    for b in batches:
        assert b.arrival_ms > max(t.t_ms for t in b.truth)
        late += b.arrival_ms - min(t.t_ms for t in b.truth) > 5 * 60_000
        if any(t.expected_reason for t in b.truth):
            continue
        obj = orjson.loads(b.value)
        crs_seen[obj["crs"]] += 1
        for point, t in zip(obj["points"], b.truth, strict=True):
            row = (point["lat"], point["lon"], point["accuracy_m"], t.lat, t.lon)
            sent[obj["crs"]].append(row)
            by_device[t.device_id].append(t.t_ms)
    errors, accuracies = [], []
    for crs, rows in sent.items():
        lat, lon, accuracy, true_lat, true_lon = np.array(rows).T
        if crs != "wgs84":
            lat, lon = (geo.gcj02_to_wgs84 if crs == "gcj02" else geo.bd09_to_wgs84)(lat, lon)
        dx = (lon - true_lon) * M_PER_DEG * np.cos(np.radians(true_lat))
        errors.append(np.hypot(dx, (lat - true_lat) * M_PER_DEG))
        accuracies.append(accuracy)
    errors_m, accuracy_m = np.concatenate(errors), np.concatenate(accuracies)
    assert (errors_m <= accuracy_m + 0.5).all()  # within the claimed accuracy
    assert np.median(errors_m) < 8 and 0.01 < (errors_m > 20).mean() < 0.1
    assert set(crs_seen) == {"wgs84", "gcj02", "bd09"}
    assert 0 < late < len(batches) * 0.05
    steps = np.concatenate([np.diff(sorted(ts)) for ts in by_device.values()]) / 1000
    assert np.percentile(steps, 5) >= 8 and np.median(steps) <= 30
    assert (steps > 60).sum() > 0  # GPS gaps and the time between patrols


def test_true_positions_lie_on_the_leg_streets(
    district: District, week: tuple[Simulation, list[SimRecord | TrackRecord]]
) -> None:
    rows = [t for b in _batches(week) for t in b.truth if t.leg >= 0][::10]
    names = {s.name: s for s in district.streets}
    assert len(rows) > 1000
    for t in rows:
        x, y = district.plane.from_wgs84(t.lat, t.lon)
        assert _to_polyline(names[t.street], x, y) <= 6.0 + 0.01, t  # on the pavement
    between = [t for b in _batches(week) for t in b.truth if t.leg < 0]
    assert between and all(t.street == "" for t in between)


def test_shirkers_miss_their_rule_and_everyone_else_meets_it(
    week: tuple[Simulation, list[SimRecord | TrackRecord]],
) -> None:
    sim, _ = week
    assert len(sim.shirkers) == 1 + 1 + 4  # 10 % of each level, at least one
    walked: dict[str, Counter[date]] = defaultdict(Counter)
    for p in sim.planned:
        assert p.walked or p.inspector.inspector_id in sim.shirkers
        walked[p.inspector.inspector_id][p.day] += p.walked
    days = [START + timedelta(days=k) for k in range(WEEK)]
    for who in sim.district.inspectors:
        per_day = walked[who.inspector_id]
        if who.role == "head":  # principal leaders: at least 3 patrols a week
            met = sum(per_day.values()) >= 3
        else:  # section chiefs at least once a day, staff every day
            met = all(per_day[d] >= 1 for d in days)
        assert met == (who.inspector_id not in sim.shirkers), who.inspector_id
    assert sim.patrols == [p for p in sim.planned if p.walked]
    tracked = {t.patrol_id for b in _batches(week) for t in b.truth}
    assert tracked == {p.patrol_id for p in sim.patrols}
