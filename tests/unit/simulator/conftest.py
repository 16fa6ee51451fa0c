"""Shared small simulations: generated once per test session (they take well under a second)."""

from __future__ import annotations

import pytest

from streams.simulator import SimRecord, Simulation, build_district
from streams.simulator.district import District


@pytest.fixture(scope="session")
def district() -> District:
    return build_district()


@pytest.fixture(scope="session")
def small_run(district: District) -> tuple[Simulation, list[SimRecord]]:
    """An ordinary day at 5% scale with a high bad share, so every bad kind shows up."""
    sim = Simulation("ordinary", seed=7, scale=0.05, bad_share=0.2, district=district)
    return sim, list(sim.records())
