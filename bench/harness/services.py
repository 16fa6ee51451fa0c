"""The one rule for a missing service or tool in tests and benchmarks.

On a developer's machine a test that needs a service that is not running is skipped with
the command that starts it; under CI (``CI=true``) it fails: CI must start every service
its tests need, and a skip there would hide that it did not.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

__all__ = ["in_ci", "require_module", "unavailable"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(message: str) -> NoReturn:
    """Fail under CI, skip elsewhere."""
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def require_module(name: str) -> ModuleType:
    """A peer's package (the bench extra installs them), by the same rule as a service."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        unavailable(f"{name} is not installed ({exc}): pip install -e '.[bench]'")
