"""A small seeded simulator feed with its ground truth, shared by the replay tests."""

from __future__ import annotations

import pytest
from replay_feed import Feed

from streams.settings import Settings, load_settings
from streams.simulator import Simulation


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(env={})


@pytest.fixture(scope="session")
def feed() -> Feed:
    records = list(Simulation("ordinary", seed=3, scale=0.02).records())
    return Feed(records, [t for r in records for t in r.truth])
