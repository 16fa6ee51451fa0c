"""Fixtures shared by the unit tests (they need no services)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.runner import free_port


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings for a home (``<tmp_path>/var``), a cache and ports on which nothing runs:
    no CITYSTREAM_* variable of the calling shell leaks in. Returns ``tmp_path``."""
    for key in list(os.environ):
        if key.startswith("CITYSTREAM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CITYSTREAM_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("CITYSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "CLICKHOUSE_PORT", "CLICKHOUSE_HTTP_PORT"):
        monkeypatch.setenv(f"CITYSTREAM_{name}", str(free_port()))
    return tmp_path
