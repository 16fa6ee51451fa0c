"""Throughput of the kernels against their peers, in one run (seeded data, JIT warmed).

Run: ``.venv/bin/pytest bench/test_bench_kernels.py --benchmark-only -p no:cacheprovider -s``.
Peers: h3 ``latlng_to_cell`` (res 9, per point) and the pure-Python reference for
bucketing; the pure-Python reference (on a subset) and a scipy cKDTree radius query over
the same events for dedup. Dedup runs on two city-days: a synthetic 50 x 50 km stress day
(1.5 M events, most cases open all day) and the project's simulated typhoon day through
the real normalizer and the pipeline's parameters (cached under ``.cache/bench``, keyed by
a hash of the simulator, intake and data files). Nothing here asserts a speed: the
ratios are the regression guard's (bench/baseline.json) and the goals from the issues are
declared in bench/harness/goals.py and reported met / not met by ``citystream bench``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.harness import SUBJECT, peer, record
from bench.harness.convention import BenchScale
from bench.harness.services import require_module
from kernels import (
    DedupParams,
    DedupState,
    GridSpec,
    cell_ids,
    dedup_batch,
    evict,
    project,
    warmup,
)
from kernels.reference import ReferenceDedup, ref_cell_ids

pytestmark = pytest.mark.bench

ORIGIN = (35.7331, 114.2972)
SPEC = GridSpec(*ORIGIN)
N_CAT = 40
N_BUCKET = 10_000_000
N_DAY = 1_500_000
BATCH = 4096


def city_params() -> DedupParams:
    rng = np.random.default_rng(7)
    point = rng.uniform(20, 50, N_CAT)  # point components: tens of metres
    area = rng.uniform(60, 150, N_CAT)  # area events
    radius = np.where(np.arange(N_CAT) < 20, point, area)
    radius[[7, 33]] = 0.0  # never merge
    compat = np.diag(radius > 0)
    for a, b in [(0, 1), (1, 2), (0, 2), (20, 21), (22, 23)]:
        compat[a, b] = compat[b, a] = True
    return DedupParams.build(
        N_CAT,
        radius_m=radius,
        window_s=rng.uniform(1800, 4 * 3600, N_CAT),
        recurrence_window_s=7 * 86400,
        allowed_lateness_s=6 * 3600,
        max_open_age_s=12 * 3600,
        compat=compat,
    )


def city_day(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A 50 x 50 km city-day: sensor incidents with re-alarms, and citizen reports of the
    same incidents a few metres away; about a quarter of all events are duplicates."""
    rng = np.random.default_rng(seed)
    dev_xy = rng.uniform(-25_000, 25_000, (1_000_000, 2))
    dev_cat = rng.integers(0, 20, dev_xy.shape[0])
    dev_hash = rng.integers(1, 2**63, dev_xy.shape[0], dtype=np.uint64)
    n_inc = int(n * 0.95)
    inc_t = rng.integers(0, 86_400_000, n_inc)
    sensor = rng.random(n_inc) < 0.7
    dev = rng.integers(0, dev_xy.shape[0], n_inc)
    xy = np.where(sensor[:, None], dev_xy[dev], rng.uniform(-25_000, 25_000, (n_inc, 2)))
    cat = np.where(sensor, dev_cat[dev], rng.integers(0, N_CAT, n_inc))
    dh = np.where(sensor, dev_hash[dev], np.uint64(0))
    src = rng.integers(0, n_inc, n - n_inc)
    realarm = sensor[src] & (rng.random(src.shape[0]) < 0.6)
    d_t = inc_t[src] + rng.integers(0, 40 * 60_000, src.shape[0])
    d_xy = xy[src] + np.where(realarm[:, None], 0.0, rng.normal(0, 8, (src.shape[0], 2)))
    order = np.argsort(np.concatenate([inc_t, d_t]), kind="stable")
    pts = np.concatenate([xy, d_xy])[order]
    return {
        "event_id": rng.permutation(np.arange(1, n + 1, dtype=np.uint64)) * np.uint64(7919),
        "category": np.concatenate([cat, cat[src]])[order].astype(np.uint16),
        "lat": ORIGIN[0] + pts[:, 1] / SPEC.ky,
        "lon": ORIGIN[1] + pts[:, 0] / SPEC.kx,
        "t_ms": np.concatenate([inc_t, d_t])[order].astype(np.int64),
        "device_hash": np.concatenate([dh, np.where(realarm, dh[src], 0)])[order].astype(np.uint64),
    }


COLS = ("event_id", "category", "lat", "lon", "t_ms", "device_hash")


@pytest.fixture(scope="module")
def points(bench_scale: BenchScale) -> tuple[np.ndarray, np.ndarray]:
    warmup()
    n = bench_scale.pick(N_BUCKET, smoke=50_000)
    rng = np.random.default_rng(1)
    return ORIGIN[0] + rng.uniform(-0.2, 0.2, n), ORIGIN[1] + rng.uniform(-0.2, 0.2, n)


@pytest.fixture(scope="module")
def day(bench_scale: BenchScale) -> dict[str, np.ndarray]:
    warmup()
    return city_day(bench_scale.pick(N_DAY, smoke=20_000))


def test_bucketing_kernel(benchmark: Any, points: tuple[np.ndarray, np.ndarray]) -> None:
    lat, lon = points
    record(benchmark, path="bucketing", role=SUBJECT, events=lat.shape[0])
    out = benchmark(cell_ids, lat, lon, SPEC)
    assert out.shape == lat.shape


def test_bucketing_h3(benchmark: Any, points: tuple[np.ndarray, np.ndarray]) -> None:
    h3 = require_module("h3")
    lat, lon = points[0][:200_000].tolist(), points[1][:200_000].tolist()
    record(benchmark, path="bucketing", role=peer("h3"), events=len(lat))
    out = benchmark.pedantic(
        lambda: [h3.latlng_to_cell(a, b, 9) for a, b in zip(lat, lon, strict=True)],
        rounds=3,
        iterations=1,
    )
    assert len(out) == len(lat)


def test_bucketing_reference(benchmark: Any, points: tuple[np.ndarray, np.ndarray]) -> None:
    lat, lon = points[0][:200_000].tolist(), points[1][:200_000].tolist()
    record(benchmark, path="bucketing", role=peer("reference"), events=len(lat))
    out = benchmark.pedantic(ref_cell_ids, args=(lat, lon, SPEC), rounds=3, iterations=1)
    assert out[:1000] == cell_ids(lat[:1000], lon[:1000], SPEC).tolist()


def _run_day(day: dict[str, np.ndarray], params: DedupParams, n: int) -> np.ndarray:
    state = DedupState(SPEC)
    new = np.empty(n, dtype=np.bool_)
    for i in range(0, n, BATCH):
        _, is_new, _ = dedup_batch(state, params, *(day[c][i : i + BATCH] for c in COLS))
        new[i : i + BATCH] = is_new
        if i % (64 * BATCH) == 0:
            evict(state, params)  # as a worker would, now and then
    return new


def test_dedup_kernel(benchmark: Any, day: dict[str, np.ndarray]) -> None:
    params = city_params()
    n = day["event_id"].shape[0]
    record(benchmark, path="dedup", role=SUBJECT, events=n)
    new = benchmark.pedantic(_run_day, args=(day, params, n), rounds=3, iterations=1)
    dup = 1 - new.mean()
    print(f"\nduplicate share {dup:.1%}")
    assert 0.05 <= dup <= 0.30


def _time_reference(benchmark: Any, spec: GridSpec, params: DedupParams, cols: list[Any]) -> None:
    """One timed round of the brute-force reference over ``cols``; it must agree with the
    kernel."""

    def run() -> list[int]:
        return ReferenceDedup(spec, params).dedup_batch(*cols)[0]

    got = benchmark.pedantic(run, rounds=1, iterations=1)
    assert got == dedup_batch(DedupState(spec), params, *cols)[0].tolist()


def test_dedup_reference(benchmark: Any, day: dict[str, np.ndarray]) -> None:
    params = city_params()
    n = 3000  # brute force is quadratic
    record(benchmark, path="dedup", role=peer("reference"), events=n)
    _time_reference(benchmark, SPEC, params, [day[c][:n] for c in COLS])


def test_dedup_ckdtree(benchmark: Any, day: dict[str, np.ndarray]) -> None:
    spatial = require_module("scipy.spatial")
    x = (day["lon"] - SPEC.origin_lon) * SPEC.kx
    y = (day["lat"] - SPEC.origin_lat) * SPEC.ky
    pts = np.column_stack([x, y])
    n = pts.shape[0]
    record(benchmark, path="dedup", role=peer("ckdtree"), events=n)

    def run() -> int:
        tree = spatial.cKDTree(pts)
        return int(sum(map(len, tree.query_ball_point(pts, r=100.0))))

    assert benchmark.pedantic(run, rounds=1, iterations=1) >= n


# -- the simulated typhoon day, through the real intake ---------------------------------

ROOT = Path(__file__).resolve().parents[1]
TYPHOON_CACHE = ROOT / ".cache" / "bench" / "typhoon_events.npy"
TYPHOON_SIM = dict(scenario="typhoon", seed=1, scale=1.0, bad_share=0.0)
ENGINE_EVICT_EVERY = 16  # batches between evictions, as streams.dedup.engine does
FUSED_COLS = ("event_id", "category", "lat", "lon", "event_time_ms", "device_hash")


def _simulator_key() -> str:
    """Hash of everything the cached events derive from (code, data, run parameters)."""
    h = hashlib.blake2b(repr(sorted(TYPHOON_SIM.items())).encode(), digest_size=16)
    for folder in ("streams/simulator", "streams/intake", "streams/data"):
        for f in sorted((ROOT / folder).rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(ROOT)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def _simulate_typhoon_events() -> np.ndarray:
    from streams.intake.normalize import Normalizer
    from streams.settings import load_settings
    from streams.simulator import Simulation

    normalizer = Normalizer.from_settings(load_settings())
    by_source: dict[str, list[Any]] = {}
    for rec in Simulation(**TYPHOON_SIM).records():  # type: ignore[arg-type]
        by_source.setdefault(rec.source, []).append(rec)
    parts = []
    for source, recs in sorted(by_source.items()):
        for i in range(0, len(recs), 8192):
            chunk = recs[i : i + 8192]
            out = normalizer.normalize(
                source, [r.value for r in chunk], ingest_ms=[r.arrival_ms for r in chunk]
            )
            assert not out.dead_letters, out.dead_letters[:3]  # bad_share=0: all clean
            parts.append(out.batch.events)
    return np.concatenate(parts)


def _typhoon_events() -> np.ndarray:
    key = _simulator_key()
    key_file = TYPHOON_CACHE.with_suffix(".key")
    if TYPHOON_CACHE.exists() and key_file.exists() and key_file.read_text() == key:
        return np.load(TYPHOON_CACHE)
    events = _simulate_typhoon_events()  # 10-20 s
    TYPHOON_CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.save(TYPHOON_CACHE, events)
    key_file.write_text(key)
    return events


@pytest.fixture(scope="module")
def typhoon(bench_scale: BenchScale) -> tuple[dict[str, np.ndarray], GridSpec, DedupParams]:
    """The typhoon day's events in the pipeline's canonical order, its grid and params."""
    from streams.dedup.engine import build_params
    from streams.reference.categories import CategoryTable
    from streams.reference.geo import District
    from streams.settings import load_settings

    settings = load_settings()
    table = CategoryTable.load(
        settings.pipeline.categories_file, settings.pipeline.category_code_digits
    )
    origin = District.load(settings.pipeline.district).origin
    spec = GridSpec(origin[0], origin[1], settings.pipeline.cell_size_m)
    f = _typhoon_events()
    f = f[np.lexsort((f["event_id"], f["ingest_time_ms"]))]
    f = f[: bench_scale.pick(len(f), smoke=min(len(f), 20_000))]
    warmup()
    cols = {c: np.ascontiguousarray(f[c]) for c in FUSED_COLS}
    return cols, spec, build_params(table, settings)


def _run_typhoon(cols: dict[str, np.ndarray], spec: GridSpec, params: DedupParams) -> np.ndarray:
    state = DedupState(spec)  # fresh per round, as a worker starting on the day
    n = cols["event_id"].shape[0]
    case = np.empty(n, dtype=np.uint64)
    for b, i in enumerate(range(0, n, BATCH)):
        out, _, _ = dedup_batch(state, params, *(cols[c][i : i + BATCH] for c in FUSED_COLS))
        case[i : i + BATCH] = out
        if (b + 1) % ENGINE_EVICT_EVERY == 0:
            evict(state, params)
    return case


def test_dedup_typhoon_kernel(benchmark: Any, typhoon: Any) -> None:
    cols = typhoon[0]
    n = cols["event_id"].shape[0]
    record(benchmark, path="dedup-typhoon", role=SUBJECT, events=n)
    case = benchmark.pedantic(_run_typhoon, args=typhoon, rounds=5, iterations=1)
    assert (case != 0).all()  # ordered by arrival: nothing is beyond the allowed lateness
    n_cases = np.unique(case).shape[0]
    print(f"\ntyphoon day: {n} events -> {n_cases} cases ({1 - n_cases / n:.1%} duplicates)")
    assert n_cases < n / 2  # sensors re-alarm: most events join a case


def test_dedup_typhoon_reference(benchmark: Any, typhoon: Any) -> None:
    cols, spec, params = typhoon
    n = min(20_000, cols["event_id"].shape[0])  # brute force over every case: a prefix
    record(benchmark, path="dedup-typhoon", role=peer("reference"), events=n)
    _time_reference(benchmark, spec, params, [cols[c][:n] for c in FUSED_COLS])


def test_dedup_typhoon_ckdtree(benchmark: Any, typhoon: Any) -> None:
    spatial = require_module("scipy.spatial")
    cols, spec, params = typhoon
    x, y = project(cols["lat"], cols["lon"], spec)
    pts = np.column_stack([x, y])
    # Each event's own search radius, counts only: the cheapest form of the same question.
    r = params.search_radius_m[cols["category"]]
    record(benchmark, path="dedup-typhoon", role=peer("ckdtree"), events=pts.shape[0])

    def run() -> int:
        tree = spatial.cKDTree(pts)
        return int(tree.query_ball_point(pts, r=r, return_length=True).sum())

    assert benchmark.pedantic(run, rounds=1, iterations=1) >= pts.shape[0]
