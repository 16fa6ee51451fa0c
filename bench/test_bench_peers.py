"""More peers of the dedup kernel: scikit-learn's BallTree and DBSCAN (haversine).

Same events as the dedup benchmark (``city_day`` of ``test_bench_kernels``: the seeded
50 x 50 km city-day), group ``dedup``; the subject (the numba kernel) is declared in
``test_bench_kernels.py``, so run both files together (``citystream bench --suites
kernels``). Both peers do less than the kernel: a 100 m radius search only, no category,
time window or device matching, so their ratios understate the kernel's lead.

* ``balltree``: ``BallTree(metric="haversine")`` built over the events and one
  ``query_radius`` for every event, i.e. the candidate search of a tree-based dedup.
* ``dbscan``: ``DBSCAN(eps=100 m, min_samples=1, metric="haversine")``, the textbook
  "group points close in space" clustering, as a batch job over the day.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.harness import BenchScale, peer, record
from bench.harness.services import require_module
from bench.test_bench_kernels import N_DAY, city_day

pytestmark = pytest.mark.bench

EARTH_RADIUS_M = 6_371_008.8  # mean radius: what haversine distances in radians scale by
RADIUS_M = 100.0  # the upper end of the city's merge radii (area events)
SMOKE_EVENTS = 20_000


@pytest.fixture(scope="module")
def latlon_rad(bench_scale: BenchScale) -> np.ndarray:
    """The dedup benchmark's events as (lat, lon) in radians, sklearn's haversine input."""
    day = city_day(bench_scale.pick(N_DAY, smoke=SMOKE_EVENTS))
    return np.radians(np.column_stack([day["lat"], day["lon"]]))


def test_dedup_balltree(benchmark: Any, latlon_rad: np.ndarray) -> None:
    neighbors = require_module("sklearn.neighbors")
    n = latlon_rad.shape[0]
    record(benchmark, path="dedup", role=peer("balltree"), events=n)

    def run() -> int:
        tree = neighbors.BallTree(latlon_rad, metric="haversine")
        counts = tree.query_radius(latlon_rad, r=RADIUS_M / EARTH_RADIUS_M, count_only=True)
        return int(counts.sum())

    pairs = benchmark.pedantic(run, rounds=1, iterations=1)
    assert pairs > n  # every event finds itself, and the day has duplicates


def test_dedup_dbscan(benchmark: Any, latlon_rad: np.ndarray) -> None:
    cluster = require_module("sklearn.cluster")
    n = latlon_rad.shape[0]
    record(benchmark, path="dedup", role=peer("dbscan"), events=n)

    def run() -> np.ndarray:
        model = cluster.DBSCAN(
            eps=RADIUS_M / EARTH_RADIUS_M, min_samples=1, metric="haversine", algorithm="ball_tree"
        )
        labels: np.ndarray = model.fit(latlon_rad).labels_
        return labels

    labels = benchmark.pedantic(run, rounds=1, iterations=1)
    assert labels.min() == 0  # min_samples=1: no noise points
    assert 0 < labels.max() + 1 < n  # close events were grouped
