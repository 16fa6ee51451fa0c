"""Fixtures for the streaming-shell tests: default settings and the dedup engine."""

from __future__ import annotations

import pytest

from streams.dedup.build import make_engine
from streams.dedup.engine import DedupEngine
from streams.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(env={})


@pytest.fixture(scope="session")
def engine(settings: Settings) -> DedupEngine:
    return make_engine(settings)
