"""The benchmark harness: the subject/peer convention, the report and the regression guard.

Every benchmark declares which hot path it measures (``path``, also its pytest-benchmark
group), whether it is the project's code (``role="subject"``) or a peer it is compared
with (``role="peer:<name>"``), and how many events one round handles (``events``)::

    from bench.harness import SUBJECT, peer, record

    def test_dedup_kernel(benchmark, bench_scale):
        record(benchmark, path="dedup", role=SUBJECT, events=n)
        benchmark.pedantic(...)

``citystream bench`` then turns pytest-benchmark's JSON into events/s, ratios to the peers,
p50/p99 round latency and peak memory (:mod:`bench.harness.results`), judges the goals
from the issues (:mod:`bench.harness.goals`: reported, never asserted), renders the table
(:mod:`bench.harness.table`) and checks the ratios against ``bench/baseline.json``
(:mod:`bench.harness.guard`), measuring a flagged path once more before calling it a
regression (:mod:`bench.harness.runner`).
"""

from bench.harness.convention import (
    SUBJECT,
    SUITES,
    BenchScale,
    Declaration,
    declaration,
    peer,
    record,
)

__all__ = ["SUBJECT", "SUITES", "BenchScale", "Declaration", "declaration", "peer", "record"]
