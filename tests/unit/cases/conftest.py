"""Fixtures for the case-logic tests: the default calendar and local-time helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from streams.cases.calendar import WorkCalendar
from streams.cases.dispatch import DispatchLimits
from streams.settings import load_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="session")
def cal() -> WorkCalendar:
    """The packaged default: 08:30-12:00 and 14:00-17:30, China 2023-2026 holidays."""
    return WorkCalendar.from_settings(load_settings(env={}))


@pytest.fixture(scope="session")
def limits() -> DispatchLimits:
    return DispatchLimits.from_settings(load_settings(env={}))


@pytest.fixture(scope="session")
def at() -> Callable[[str], int]:
    """Epoch ms of a Shanghai wall time such as ``"2023-07-31 09:00"``."""

    def convert(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp() * 1000)

    return convert


@pytest.fixture(scope="session")
def wall() -> Callable[[int], str]:
    """The Shanghai wall time of epoch ms, as ``"YYYY-MM-DD HH:MM"``."""

    def convert(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, SHANGHAI).strftime("%Y-%m-%d %H:%M")

    return convert
