from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import orjson
import pytest

from streams.simulator import SimRecord, Simulation, generate
from streams.simulator.catalog import load_catalog
from streams.simulator.district import District

SENSOR_FIELDS = {
    "alarm_id",
    "device_id",
    "device_type",
    "alarm_type",
    "lat",
    "lon",
    "ts",
    "readings",
}
HOTLINE_REQUIRED = {
    "service_request_id",
    "status",
    "service_code",
    "service_name",
    "description",
    "requested_datetime",
    "agency_responsible",
}
HOTLINE_ALLOWED = HOTLINE_REQUIRED | {"address", "lat", "long", "media_url"}
PATROL_FIELDS = {
    "report_id",
    "inspector_id",
    "department",
    "category",
    "lat",
    "lon",
    "crs",
    "ts",
    "fixed_on_spot",
    "note",
    "photos",
}


def _good(records: list[SimRecord]) -> list[SimRecord]:
    return [r for r in records if not r.truth[0].expected_reason]


def test_same_seed_gives_identical_bytes_other_seed_does_not(district: District) -> None:
    def run(seed: int) -> list[tuple[bytes, bytes, int, tuple[object, ...]]]:
        recs = generate("ordinary", seed=seed, scale=0.02, district=district)
        return [(r.key, r.value, r.arrival_ms, r.truth) for r in recs]

    first = run(11)
    assert first == run(11)
    assert first != run(12)


def test_records_are_ordered_by_arrival(small_run: tuple[Simulation, list[SimRecord]]) -> None:
    _, records = small_run
    arrivals = [r.arrival_ms for r in records]
    assert arrivals == sorted(arrivals)
    assert len(records) > 1000


def test_truth_covers_every_record_in_source_order(
    small_run: tuple[Simulation, list[SimRecord]],
) -> None:
    sim, records = small_run
    incidents = {i.incident_id for i in sim.incidents}
    next_seq: Counter[str] = Counter()
    for r in records:
        assert r.truth, r
        for t in r.truth:
            assert t.source == r.source and t.arrival_ms == r.arrival_ms
            assert t.source_seq == next_seq[r.source]
            assert t.source_ref and t.incident_id in incidents
            assert t.incident_id.encode() not in r.value  # the pipeline must not see it
        next_seq[r.source] += 1
    assert set(next_seq) == {"sensor", "hotline", "patrol"}


def _check_sensor(obj: dict[str, object], key: bytes, n_truth: int) -> list[dict[str, object]]:
    if "gateway_id" in obj:
        alarms = obj["alarms"]
        assert isinstance(alarms, list) and len(alarms) == n_truth
        assert key == str(obj["gateway_id"]).encode()
        return alarms
    assert key == str(obj["device_id"]).encode()
    return [obj]


def test_good_records_follow_the_contract(
    small_run: tuple[Simulation, list[SimRecord]], district: District
) -> None:
    _, records = small_run
    catalog = load_catalog()
    seen: Counter[str] = Counter()
    for r in _good(records):
        obj = orjson.loads(r.value)
        assert isinstance(obj, dict)
        seen[r.source] += 1
        if r.source == "sensor":
            for alarm in _check_sensor(obj, r.key, len(r.truth)):
                assert set(alarm) == SENSOR_FIELDS
                assert isinstance(alarm["ts"], int) and alarm["ts"] <= r.arrival_ms
                assert district.inside(alarm["lat"], alarm["lon"])  # type: ignore[arg-type]
        elif r.source == "hotline":
            assert HOTLINE_REQUIRED <= set(obj) <= HOTLINE_ALLOWED
            assert r.key == obj["service_request_id"].encode()
            assert obj["service_code"] in catalog.code_category
            assert "address" in obj or "lat" in obj
            if "lat" in obj:
                assert district.inside(obj["lat"], obj["long"])
            assert datetime.fromisoformat(obj["requested_datetime"]).utcoffset() is not None
        else:
            assert set(obj) == PATROL_FIELDS
            assert r.key == obj["report_id"].encode()
            assert obj["crs"] in ("wgs84", "gcj02", "bd09")
            assert obj["category"] in catalog.categories
            assert district.inside(obj["lat"], obj["lon"])
    assert min(seen.values()) > 0


def test_hotline_addresses_resolve_through_the_gazetteer(
    small_run: tuple[Simulation, list[SimRecord]], district: District
) -> None:
    _, records = small_run
    known = {a.text for a in district.addresses}
    addressed = [orjson.loads(r.value) for r in _good(records) if r.source == "hotline"]
    addressed = [o for o in addressed if "address" in o]
    assert addressed and all(o["address"] in known for o in addressed)


def test_each_channel_reports_late_and_patrols_fix_some(
    small_run: tuple[Simulation, list[SimRecord]],
) -> None:
    sim, records = small_run
    start = {i.incident_id: i.start_ms for i in sim.incidents}
    delays: dict[str, list[int]] = {"sensor": [], "hotline": [], "patrol": []}
    for r in _good(records):
        for t in r.truth:
            delays[r.source].append(t.arrival_ms - start[t.incident_id])
    assert all(d >= 0 for v in delays.values() for d in v)
    median = {k: sorted(v)[len(v) // 2] for k, v in delays.items()}
    assert median["hotline"] > 10 * 60_000  # citizens call late
    assert any(i.fixed_by == "patrol" for i in sim.incidents)
    assert any(i.recurrence_of for i in sim.incidents)


def test_several_channels_see_the_same_incident(
    small_run: tuple[Simulation, list[SimRecord]],
) -> None:
    _, records = small_run
    channels: dict[str, set[str]] = {}
    for r in _good(records):
        for t in r.truth:
            channels.setdefault(t.incident_id, set()).add(r.source)
    assert sum(1 for c in channels.values() if len(c) >= 2) >= 5


def test_typhoon_day_has_more_records_than_an_ordinary_day(district: District) -> None:
    ordinary = sum(1 for _ in generate("ordinary", seed=5, scale=0.02, district=district))
    typhoon = sum(1 for _ in generate("typhoon", seed=5, scale=0.02, district=district))
    assert typhoon > 2 * ordinary


def test_campaign_spans_days_and_recurs(district: District) -> None:
    sim = Simulation("campaign", seed=2, scale=0.05, days=4, district=district)
    records = list(sim.records())
    days = {datetime.fromtimestamp(r.arrival_ms / 1000).date() for r in records}
    assert len(days) >= 4
    vending = sum(1 for i in sim.incidents if i.key == "E0501")
    parking = sum(1 for i in sim.incidents if i.key == "E0505")
    assert vending * 2 > parking  # the theme is boosted 3x over its ordinary 600 vs 1600


def test_the_campaign_scenario_follows_the_campaign_calendar(district: District) -> None:
    """Its boost starts with the calendar's street-vending month, not with the run; a theme
    boosts every day."""
    sim = Simulation(
        "campaign", seed=3, scale=0.1, start=date(2023, 7, 29), days=6, district=district
    )
    assert sim.boosted(date(2023, 7, 31)) == ()
    assert sim.boosted(date(2023, 8, 1)) == ("E0501", "E0504", "E0510")
    assert sim.boosted(date(2023, 9, 30)) == ("E0201",)
    assert Simulation("ordinary", district=district).boosted(date(2023, 8, 1)) == ()
    themed = Simulation("campaign", theme="small_ads", district=district)
    assert themed.boosted(date(2023, 7, 1)) == ("E0201",)
    list(sim.records())
    vending = Counter(
        datetime.fromtimestamp(i.start_ms / 1000, sim.tz).date() >= date(2023, 8, 1)
        for i in sim.incidents
        if i.key in ("E0501", "E0504", "E0510") and not i.recurrence_of
    )
    # three days each side, the campaign's three times the rate
    assert vending[True] > 2 * vending[False] > 0, vending


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        Simulation("flood")
    with pytest.raises(ValueError, match="theme"):
        Simulation("campaign", theme="dogs")
    with pytest.raises(ValueError, match="scale"):
        Simulation(scale=0)
    with pytest.raises(ValueError, match="bad share"):
        Simulation(bad_share=1.5)
