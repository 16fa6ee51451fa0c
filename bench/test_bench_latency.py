"""Arrival-to-dispatch latency at a steady rate, and a surge on top of the ordinary feed.

Needs ``citystream up`` (skipped when a service is down, FAILED under ``CI=true``). Every
run gets its own topics and app id, deleted afterwards (docs/benchmarks-e2e.md):

* ``e2e-latency``: raw records at a steady 10,000 records/s through one worker with roles
  normalize,dedup,dispatch; ``e2e-latency-2w``: 30,000 records/s through two such workers
  on two partitions. p50/p99/max from a record's arrival to its case's dispatch order, the
  worker's CPU per record and its peak RSS. Goals (``latency_p99_ms``) in
  bench/harness/goals.py, reported by ``citystream bench``, never asserted here.
* ``e2e-surge``: the ordinary feed (1,000 records/s), 10 minutes of ten times as much on
  top of it, the ordinary feed again (bench/e2e/surge.py), through one worker per role
  (normalize, dedup, dispatch): the peak backlog, the time to drain it, p99 latency during
  and after the surge, peak RSS per role; asserted: nothing lost, every case dispatched.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.e2e.kafka_io import OutputTail, count_columnar_rows, count_messages
from bench.e2e.latency import collect_latencies, paced_send, yesterday
from bench.e2e.rounds import (
    peak_rss_bytes,
    run_settings,
    service_settings,
    start_worker,
    timed_rounds,
)
from bench.e2e.surge import BacklogSampler, SurgePlan, send_plan
from bench.harness import SUBJECT, BenchScale, record
from streams.app.factory import group_id
from streams.app.kafka_admin import read_to_end
from streams.contracts.topics import DEDUP_STATE, DISPATCH, LINKS
from streams.runner import WorkerProcess, scrape_metric
from streams.settings import Settings
from streams.simulator import Simulation

pytestmark = pytest.mark.bench

SCENARIO, SEED = "typhoon", 1
IDLE_SOURCE_MS = 250  # CITYSTREAM_IDLE_SOURCE_MS of the latency runs (default 2000)
START_TIMEOUT_S = 120.0
WARM_RECORDS = 500
RECORDS_PER_DAY_SCALE = 222_000  # raw records of the typhoon day at scale 1.0
ROLES = "normalize,dedup,dispatch"


@dataclass(frozen=True)
class LatencyCase:
    path: str
    rate: int  # raw records/s
    workers: int  # worker processes, one partition each
    seconds: int  # of steady input at full size


CASES = (
    LatencyCase(path="e2e-latency", rate=10_000, workers=1, seconds=25),
    LatencyCase(path="e2e-latency-2w", rate=30_000, workers=2, seconds=10),
)


@pytest.fixture(scope="module")
def base() -> Settings:
    return service_settings()


def _records(base: Settings, n: int) -> list[Any]:
    scale = 1.2 * (n + WARM_RECORDS) / RECORDS_PER_DAY_SCALE
    sim = Simulation(SCENARIO, SEED, max(scale, 0.2), start=yesterday(base))
    records = sorted(sim.records(), key=lambda r: r.arrival_ms)
    assert len(records) >= n + WARM_RECORDS, f"the day has {len(records)} records, {n} needed"
    return records[: n + WARM_RECORDS]


def _changelog_bytes(s: Settings) -> int:
    """Bytes the dedup role wrote to its changelog (compaction has not run in a bench)."""
    return sum(len(r.value or b"") for r in read_to_end(s, s.kafka.topic(DEDUP_STATE)))


def _cpu_seconds(workers: Sequence[WorkerProcess]) -> float:
    return sum(scrape_metric(w.web_port, "process_cpu_seconds_total") for w in workers)


def _latency_figures(case: LatencyCase, n: int, outcome: dict[str, Any]) -> dict[str, Any]:
    """The run's figures for the results (``outcome``: what the timed round measured)."""
    r = outcome["result"]
    return {
        "rate_records_per_s": case.rate,
        "workers": case.workers,
        "achieved_records_per_s": round(n / outcome["send_s"]),
        "idle_source_ms": IDLE_SOURCE_MS,
        "dispatched_cases": len(r.latencies_ms),
        "undispatched_cases": r.undispatched,
        "latency_p50_ms": r.percentile(50),
        "latency_p99_ms": r.percentile(99),
        "latency_max_ms": r.max_ms,
        # contention-proof: CPU the workers spent per raw record (the quiet tail included)
        "worker_cpu_us_per_record": round(1e6 * outcome["cpu_s"] / n, 1),
        "peak_rss_mb": round(outcome["rss"] / 2**20, 1),
        "changelog_bytes_per_record": round(outcome["changelog"] / n, 1),
    }


@pytest.mark.parametrize("case", CASES, ids=[c.path for c in CASES])
def test_latency_arrival_to_dispatch(
    benchmark: Any, base: Settings, bench_scale: BenchScale, tmp_path: Path, case: LatencyCase
) -> None:
    seconds = bench_scale.pick(case.seconds, smoke=3)
    n = seconds * case.rate
    records = _records(base, n)
    warm, stream = records[:WARM_RECORDS], records[WARM_RECORDS:]
    settings = base.replace(idle_source_ms=IDLE_SOURCE_MS, partitions=case.workers)
    outcome: dict[str, Any] = {}

    def start(stack: ExitStack) -> tuple[Settings, list[WorkerProcess]]:
        s = run_settings(settings, "latency")
        workers = [
            start_worker(stack, s, ROLES, tmp_path, topics=i == 0) for i in range(case.workers)
        ]
        paced_send(s, warm, case.rate)
        tail = OutputTail(s, {s.kafka.topic(LINKS): count_columnar_rows})
        asyncio.run(tail.run(1, START_TIMEOUT_S, lambda: all(w.alive for w in workers)))
        return s, workers

    def run(current: tuple[Settings, list[WorkerProcess]]) -> None:
        s, workers = current
        since_ms = int(time.time() * 1000)
        cpu = _cpu_seconds(workers)
        outcome["send_s"] = paced_send(s, stream, case.rate)
        outcome["result"] = collect_latencies(
            s, since_ms, quiet_s=10.0, timeout_s=180.0, alive=lambda: all(w.alive for w in workers)
        )
        outcome["cpu_s"] = _cpu_seconds(workers) - cpu
        outcome["rss"] = max(peak_rss_bytes(w) for w in workers)
        outcome["changelog"] = _changelog_bytes(s)

    record(benchmark, path=case.path, role=SUBJECT, events=n)
    timed_rounds(benchmark, start, run)
    r = outcome["result"]
    assert len(r.latencies_ms) > 0, "no case was dispatched"
    benchmark.extra_info.update(_latency_figures(case, n, outcome))
    print(
        f"\n{case.path}: {len(r.latencies_ms)} cases, p50 {r.percentile(50):.0f} ms, p99"
        f" {r.percentile(99):.0f} ms, max {r.max_ms:.0f} ms, undispatched {r.undispatched},"
        f" {benchmark.extra_info['worker_cpu_us_per_record']} us CPU/record,"
        f" {benchmark.extra_info['changelog_bytes_per_record']} changelog B/record,"
        f" peak RSS {benchmark.extra_info['peak_rss_mb']} MB"
    )
    # The goals (issue 19: p99 < 300 ms and < 1 s) are declared in bench/harness/goals.py
    # and reported by `citystream bench`, not asserted: that would hide the guard's verdict.
    assert r.undispatched == 0, f"{r.undispatched} cases opened but not dispatched"


# -- e2e-surge: ten times the ordinary rate on top of it, one worker per role -------------

SURGE_ROLES = ("normalize", "dedup", "dispatch")


def _surge_plan(bench_scale: BenchScale) -> SurgePlan:
    if bench_scale.smoke:
        return SurgePlan(ordinary_rate=200, factor=10, before_s=3, surge_s=4, after_s=4)
    return SurgePlan(ordinary_rate=1_000, factor=10, before_s=30, surge_s=600, after_s=120)


def test_surge_on_top_of_the_ordinary_feed(
    benchmark: Any, base: Settings, bench_scale: BenchScale, tmp_path: Path
) -> None:
    plan = _surge_plan(bench_scale)
    settings = base.replace(idle_source_ms=IDLE_SOURCE_MS)
    # typhoon days (at most at full density), simulated while they are sent
    scale = min(1.0, 1.2 * plan.records / RECORDS_PER_DAY_SCALE)
    days = int(plan.records / (scale * RECORDS_PER_DAY_SCALE)) + 2
    first = yesterday(base) - timedelta(days=days - 1)
    records = Simulation(SCENARIO, SEED, scale, start=first, days=days)
    warm_day = Simulation(SCENARIO, SEED + 1, 0.2, start=yesterday(base)).records()
    warm = sorted(itertools.islice(warm_day, WARM_RECORDS), key=lambda r: r.arrival_ms)
    outcome: dict[str, Any] = {}

    def start(stack: ExitStack) -> tuple[Settings, dict[str, WorkerProcess]]:
        s = run_settings(settings, "surge")
        workers = {
            role: start_worker(stack, s, role, tmp_path, topics=i == 0)
            for i, role in enumerate(SURGE_ROLES)
        }
        # warmed up outside the clock: every role has its partitions and has sent output
        paced_send(s, warm, plan.ordinary_rate)
        tail = OutputTail(s, {s.kafka.topic(DISPATCH): count_messages})
        asyncio.run(tail.run(1, START_TIMEOUT_S, lambda: all(w.alive for w in workers.values())))
        return s, workers

    def run(current: tuple[Settings, dict[str, WorkerProcess]]) -> None:
        s, workers = current
        alive = lambda: all(w.alive for w in workers.values())  # noqa: E731
        sampler = BacklogSampler(s, group_id(s, ["normalize"]), workers)
        since_ms = int(time.time() * 1000)
        with sampler:
            began = time.monotonic()
            outcome["sent"] = send_plan(s, iter(records.records()), plan)
            outcome["result"] = collect_latencies(
                s, since_ms, quiet_s=15.0, timeout_s=3600.0, alive=alive
            )
        outcome.update(sampler=sampler, began=began, since_ms=since_ms, workers=workers)
        outcome["events"] = {
            role: scrape_metric(workers[role].web_port, "citystream_events_total", stage=role)
            for role in ("normalize", "dedup")
        }
        outcome["resent"] = scrape_metric(
            workers["dedup"].web_port, "citystream_deadletters_total", reason="duplicate_source_id"
        )

    record(benchmark, path="e2e-surge", role=SUBJECT, events=plan.records)
    timed_rounds(benchmark, start, run)
    _report_surge(benchmark, plan, outcome)


def _report_surge(benchmark: Any, plan: SurgePlan, outcome: dict[str, Any]) -> None:
    r, sampler, began = outcome["result"], outcome["sampler"], outcome["began"]
    surge_end = began + plan.before_s + plan.surge_s
    level = max(sampler.peak(0) if plan.before_s == 0 else 0, plan.ordinary_rate)
    drained = sampler.drained_at(surge_end, level)
    ms = outcome["since_ms"]
    starts = ms + int(1000 * plan.before_s), ms + int(1000 * (plan.before_s + plan.surge_s))
    figures = dict(
        records=outcome["sent"],
        peak_backlog_records=sampler.peak(),
        drain_s=None if drained is None else round(drained - surge_end, 1),
        latency_p99_during_ms=r.percentile_between(99, starts[0], starts[1]),
        latency_p99_after_ms=r.percentile_between(99, starts[1], 2**62),
        dispatched_cases=len(r.latencies_ms),
        **{f"peak_rss_{role}_mb": round(b / 2**20, 1) for role, b in sampler.peak_rss.items()},
    )
    benchmark.extra_info.update(figures)
    print(f"\ne2e-surge: {figures}")
    events = outcome["events"]
    # nothing lost: every normalized event is linked (or a source's resend, dead-lettered)
    assert events["normalize"] == events["dedup"] + outcome["resent"], events
    assert r.undispatched == 0, f"{r.undispatched} cases opened but not dispatched"
    assert drained is not None, "the backlog never drained"
