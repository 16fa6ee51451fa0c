"""The api under load (suite ``api``): 50 concurrent clients (40 Open311 posters, 10
department desks) for 60 s against a running ``api`` worker beside the pipeline's roles,
through the real broker and ClickHouse (docs/benchmarks-e2e.md, path ``api-load``).

Reported: requests/s, p50/p99 latency (all requests and per kind). Proved: every 2xx
request became exactly one record on its topic (``raw.hotline`` keyed by the request id,
``case.updates`` with the action's update id) and, later, a linked event (``links``) or a
stage (``case_stages``). ``--smoke``: 10 clients for 8 s.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from bench.e2e.api_load import LoadResult, gazetteer_points, run_load, spaced, write_keys
from bench.e2e.rounds import run_settings, service_settings
from bench.harness import SUBJECT, BenchScale, record
from streams.app.kafka_admin import ensure_topics
from streams.contracts.fused import event_id_for
from streams.contracts.topics import RAW_TOPICS, UPDATES
from streams.runner import WorkerProcess, free_port, read_topic, remove_faust_dirs, wait_until
from streams.settings import Settings

pytestmark = pytest.mark.bench

PIPELINE = "normalize,dedup,dispatch,lifecycle,sink"
CASES_PER_DESK = 3


@pytest.fixture(scope="module")
def base() -> Settings:
    return service_settings()


def _call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as r:
        return orjson.loads(r.read())


def _start(stack: ExitStack, s: Settings, tmp: Path) -> list[WorkerProcess]:
    from bench.e2e.kafka_io import delete_topics
    from sinks.clickhouse import make_client
    from sinks.migrate import migrate
    from sinks.sql import DriverExecutor

    client = make_client(s, use_numpy=False)
    db = s.clickhouse.database
    client.execute(f"CREATE DATABASE {db}")
    stack.callback(client.disconnect)
    stack.callback(client.execute, f"DROP DATABASE IF EXISTS {db}")
    migrate(DriverExecutor(client), db, s.calendar.timezone)
    stack.callback(remove_faust_dirs, s, s.worker.app_id)
    stack.callback(delete_topics, s, s.kafka.topic_prefix.rstrip("."))
    ensure_topics(s)
    workers = [
        WorkerProcess(s, PIPELINE, free_port(), tmp / "pipeline.log").start(),
        WorkerProcess(s, "api", free_port(), tmp / "api.log").start(),
    ]
    for w in workers:
        stack.callback(w.stop)
    return workers


def _seed(s: Settings, key: str, n: int, workers: list[WorkerProcess]) -> list[int]:
    """``n`` municipal cases far apart, dispatched: the desks' work."""
    base = f"http://127.0.0.1:{s.api.port}"
    for _, lat, lon in spaced(gazetteer_points(), n, 100.0):
        body = urlencode({"service_code": "RD-COVER", "lat": lat, "long": lon}).encode()
        _call(f"{base}/open311/v2/requests.json", body, {"X-Api-Key": key})
    found: list[int] = []

    def dispatched() -> bool:
        assert all(w.alive for w in workers), workers[0].log_path
        listing = _call(
            f"{base}/desk/v1/departments/municipal/cases", headers={"X-Api-Key": "load-reader-key"}
        )
        found[:] = [c["case_id"] for c in listing["cases"] if c["status"] == "dispatched"]
        return len(found) >= n

    assert wait_until(dispatched, 180.0, 0.5), f"{len(found)} of {n} seeded cases dispatched"
    return found[:n]


def _check_records(s: Settings, r: LoadResult, seeded: int) -> None:
    """Every 2xx request is exactly one record on its topic."""
    raw = Counter(m.key.decode() for m in read_topic(s, s.kafka.topic(RAW_TOPICS["hotline"])))
    posted = Counter(r.request_ids)
    assert sum(raw.values()) == len(r.request_ids) + seeded
    assert all(raw[i] == 1 for i in posted) and max(posted.values(), default=1) == 1
    updates = Counter(
        u["update_id"]
        for u in (orjson.loads(m.value) for m in read_topic(s, s.kafka.topic(UPDATES)))
        if str(u.get("update_id", "")).startswith("desk:")
    )
    assert updates == Counter(r.update_ids)


def _check_stored(s: Settings, r: LoadResult, timeout_s: float) -> float:
    """Every request's event is linked, every desk action a stage; the wait, in seconds."""
    from sinks.clickhouse import make_client

    client = make_client(s, use_numpy=False)
    db = s.clickhouse.database
    events = {event_id_for("hotline", i) for i in r.request_ids}
    updates = set(r.update_ids)
    started = time.monotonic()

    def stored() -> bool:
        linked = {
            e for (e,) in client.execute(f"SELECT event_id FROM {db}.links FINAL WHERE source = 1")
        }
        staged = {
            u
            for (u,) in client.execute(
                f"SELECT update_id FROM {db}.case_stages FINAL WHERE update_id LIKE 'desk:%'"
            )
        }
        return events <= linked and updates == staged

    try:
        assert wait_until(stored, timeout_s, 2.0), "not every 2xx request became an event or stage"
        return time.monotonic() - started
    finally:
        client.disconnect()


def test_api_load(benchmark: Any, base: Settings, bench_scale: BenchScale, tmp_path: Path) -> None:
    seconds = bench_scale.pick(60, smoke=8)
    posters, desks = bench_scale.pick(40, smoke=8), bench_scale.pick(10, smoke=2)
    poster_keys, desk_keys = write_keys(tmp_path / "keys.toml", posters, desks)
    s = run_settings(
        base,
        "api",
        own_database=True,
        api_port=free_port(),
        api_keys_file=str(tmp_path / "keys.toml"),
        # the limiter runs, but no client of the bench is to be held back by it
        api_rate_per_s=1e6,
        api_rate_burst=1_000_000,
    )
    outcome: dict[str, LoadResult] = {}
    with ExitStack() as stack:
        workers = _start(stack, s, tmp_path)
        assert wait_until(lambda: _healthy(s), 180.0, 0.5), workers[1].log_path.read_text()[-2000:]
        cases = _seed(s, poster_keys[0], desks * CASES_PER_DESK, workers)
        owned = [cases[i::desks] for i in range(desks)]
        base_url = f"http://127.0.0.1:{s.api.port}"

        def run() -> None:
            outcome["r"] = asyncio.run(
                run_load(base_url, poster_keys, desk_keys, owned, seconds, gazetteer_points())
            )

        record(benchmark, path="api-load", role=SUBJECT, events=1)
        benchmark.pedantic(run, rounds=1, iterations=1)
        r = outcome["r"]
        _check_records(s, r, seeded=len(cases))
        settle_s = _check_stored(s, r, timeout_s=300.0)
    _report(benchmark, r, posters + desks, settle_s)


def _healthy(s: Settings) -> bool:
    try:
        return bool(_call(f"http://127.0.0.1:{s.api.port}/health")["status"] == "ok")
    except OSError:
        return False


def _report(benchmark: Any, r: LoadResult, clients: int, settle_s: float) -> None:
    errors = {f"{k} {c}": n for (k, c), n in r.statuses.items() if c >= 500}
    assert not errors, errors
    kinds = sorted(r.latencies_ms)
    benchmark.extra_info.update(
        events=r.requests,
        clients=clients,
        seconds=round(r.seconds, 1),
        requests_per_s=round(r.requests / r.seconds, 1),
        latency_p50_ms=round(r.percentile(50), 1),
        latency_p99_ms=round(r.percentile(99), 1),
        accepted_posts=len(r.request_ids),
        accepted_desk_actions=len(r.update_ids),
        statuses={f"{k} {c}": n for (k, c), n in sorted(r.statuses.items())},
        per_kind={
            k: {
                "n": len(r.latencies_ms[k]),
                "p50_ms": round(r.percentile(50, k), 1),
                "p99_ms": round(r.percentile(99, k), 1),
            }
            for k in kinds
        },
        stored_within_s=round(settle_s, 1),
    )
    print(f"\napi-load: {orjson.dumps(benchmark.extra_info, option=orjson.OPT_INDENT_2).decode()}")
