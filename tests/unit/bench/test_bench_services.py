"""The missing-service rule: skipped on a developer machine, a failure under CI=true."""

from __future__ import annotations

import pytest
from _pytest.outcomes import Failed, Skipped

from bench.harness.services import require_module, unavailable


def test_missing_things_skip_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(Skipped, match="Kafka"):
        unavailable("Kafka is down")
    with pytest.raises(Skipped, match="not installed"):
        require_module("no_such_package_for_citystream")


def test_missing_things_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="CI=true and Kafka is down"):
        unavailable("Kafka is down")
    with pytest.raises(Failed, match="no_such_package_for_citystream"):
        require_module("no_such_package_for_citystream")


def test_an_installed_module_is_returned() -> None:
    assert require_module("json").dumps([1]) == "[1]"
