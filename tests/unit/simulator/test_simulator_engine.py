"""The simulation's own helpers."""

from __future__ import annotations


def test_by_day_splits_a_feed_at_local_midnights_without_losing_a_record() -> None:
    from streams.simulator import Simulation

    sim = Simulation("ordinary", seed=3, scale=0.002, days=3)
    records = list(sim.records())
    days = list(sim.by_day(records))
    assert [r for day in days for r in day] == records
    assert 2 <= len(days) <= 3
    day_ms = 86_400_000
    for k, day in enumerate(days[:-1]):  # the last day also takes what arrives after it
        assert all((r.arrival_ms - sim.start_ms) // day_ms == k for r in day)
