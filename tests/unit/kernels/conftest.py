"""Fixtures for the kernel tests; the feeds and runners live in ``kernel_feeds``."""

from __future__ import annotations

import pytest
from kernel_feeds import make_params

from kernels import DedupParams


@pytest.fixture(scope="session")
def params() -> DedupParams:
    return make_params()
