"""pytest hooks of the harness: the ``bench_scale`` fixture and peak memory per benchmark.

Loaded by ``bench/conftest.py`` (or ``-p bench.harness.plugin`` for benchmarks elsewhere).

Peak memory is the peak resident set size of the pytest process while the test body runs
(fixture set-up excluded, but data that fixtures hold stays resident and is counted). On
Linux the kernel's high-water mark (``VmHWM``) is reset before each test by writing ``5``
to ``/proc/self/clear_refs``, so each benchmark gets its own peak ("vmhwm"). Where that is
not possible the process-wide ``ru_maxrss`` is recorded instead ("ru_maxrss", which only
grows) and the method is stored beside the number so the report says which it is.
Tracemalloc is not used: it slows pure-Python peers several-fold and would skew ratios.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from bench.harness.convention import BenchScale
from bench.harness.knobs import load_knobs

__all__ = ["bench_scale", "pytest_runtest_call"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@pytest.fixture(scope="session")
def bench_scale() -> BenchScale:
    """Full or smoke problem sizes, from CITYSTREAM_BENCH_SMOKE (bench/harness/knobs.py)."""
    return BenchScale(smoke=load_knobs().smoke)


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in {_STATUS}")


def _reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark; False where the platform cannot."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS says bytes


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    bench = getattr(item, "funcargs", {}).get("benchmark")
    if bench is None:
        return (yield)
    vmhwm = _reset_peak()
    start = _status_kib("VmRSS") * 1024 if vmhwm else _maxrss_bytes()
    try:
        return (yield)
    finally:
        peak = _status_kib("VmHWM") * 1024 if vmhwm else _maxrss_bytes()
        # extra_info is the dict pytest-benchmark writes to its JSON at session end
        bench.extra_info.update(
            peak_rss_bytes=peak,
            rss_start_bytes=start,
            memory_method="vmhwm" if vmhwm else "ru_maxrss",
        )
