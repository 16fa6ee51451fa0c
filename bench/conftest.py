"""pytest configuration of the benchmark suites: the harness hooks and fixtures.

``bench_scale`` (full or smoke sizes) and the per-benchmark peak-memory probe come from
:mod:`bench.harness.plugin`; the subject/peer convention is :func:`bench.harness.record`.
"""

from bench.harness.plugin import bench_scale, pytest_runtest_call

__all__ = ["bench_scale", "pytest_runtest_call"]
