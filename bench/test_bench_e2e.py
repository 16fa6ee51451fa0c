"""End-to-end benchmarks through the real broker (and ClickHouse), beside their peers.

Needs ``citystream up`` (Kafka 127.0.0.1:19092, ClickHouse 127.0.0.1:19000): skipped when a
service is down, FAILED under ``CI=true``. Every round gets its own topic prefix, app id
and database, deleted afterwards. Run: ``citystream bench --suites e2e`` (``--smoke``:
tiny sizes, well under a minute). Paths (docs/benchmarks-e2e.md):

* ``e2e-dedup``: the dedup role alone on a pre-normalized typhoon day written as fused
  batches + watermark frames (subject) beside an idiomatic per-event Faust agent doing
  the same matching on one JSON message per event (``faust-per-event``), and the same
  matching on quix-streams with its RocksDB state store (``quix-streams``); both peers'
  links are checked against the matching run in process;
* ``e2e-latency``, ``e2e-latency-2w`` and ``e2e-surge``: bench/test_bench_latency.py;
* ``e2e-ingest``: raw sensor alarms to rows in ClickHouse: citystream's normalize + sink
  roles (subject) beside ClickHouse's own Kafka table engine (``clickhouse-kafka-engine``).

A pass is timed from its first input message to the producer timestamp of its last output
record (or the poll that saw the last row), with the worker already started and warmed up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.e2e.ch_kafka import (
    IngestTiming,
    commit_group_at_start,
    kafka_engine_ddl,
    plain_alarms,
    scalar,
    timed_ingest,
)
from bench.e2e.faust_peer import MODULE as FAUST_MODULE
from bench.e2e.faust_peer import (
    PEER_EVENTS,
    PEER_LINKS,
    PeerProcess,
    peer_events,
    reference_links,
)
from bench.e2e.feed import FusedFeed, build_fused_feed, warmup_messages
from bench.e2e.kafka_io import (
    Message,
    count_columnar_rows,
    count_messages,
    create_run_topics,
    delete_topics,
    produce,
)
from bench.e2e.quix_peer import CITY_KEY
from bench.e2e.quix_peer import MODULE as QUIX_MODULE
from bench.e2e.rounds import cleanup as _cleanup
from bench.e2e.rounds import fresh_database, service_settings
from bench.e2e.rounds import run_settings as _run_settings
from bench.e2e.rounds import start_worker as _worker
from bench.e2e.rounds import timed_rounds as _timed_rounds
from bench.e2e.timing import Timing, timed_pass
from bench.harness import SUBJECT, BenchScale, peer, record
from bench.harness.knobs import load_knobs
from streams.contracts.topics import DEADLETTER, FUSED, LINKS, RAW_TOPICS
from streams.dedup.build import make_engine
from streams.runner import WorkerProcess, free_port
from streams.settings import Settings
from streams.simulator import SimRecord, Simulation

pytestmark = pytest.mark.bench

SCENARIO, SEED = "typhoon", 1
WARMUP_ALARMS = 100
START_TIMEOUT_S = 120.0


# -- services, settings and data ---------------------------------------------------------


@pytest.fixture(scope="module")
def base() -> Settings:
    return service_settings()


@pytest.fixture(scope="module")
def day(bench_scale: BenchScale) -> list[SimRecord]:
    scale = bench_scale.pick(100, smoke=3) / 100
    return sorted(Simulation(SCENARIO, SEED, scale).records(), key=lambda r: r.arrival_ms)


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest) -> Iterator[list[tuple[str, str, str]]]:
    """Rows (path, member, figures) printed as one table after the module."""
    rows: list[tuple[str, str, str]] = []
    yield rows
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not rows:
        return
    reporter.write_line("")
    reporter.write_line("end-to-end benchmarks")
    for path, member, figures in rows:
        reporter.write_line(f"  {path:<12} {member:<26} {figures}")


def _figures(n: int, unit: str, rate_unit: str, seconds: float, produce_seconds: float) -> str:
    """A report line: ``n`` things in ``seconds``, their rate, and the input's own time."""
    return (
        f"{n:>9,} {unit:<7} {seconds:7.2f} s  {n / seconds:>11,.0f} {rate_unit}"
        f"  (input sent in {produce_seconds:.2f} s)"
    )


def _pass_figures(t: Timing) -> str:
    return _figures(t.events, "events", "ev/s", t.seconds, t.produce_seconds)


def _ingest_figures(t: IngestTiming, n: int) -> str:
    """``n``: the timed rows (the warm-up's are not)."""
    return _figures(n, "rows", "rows/s", t.seconds, t.produce_seconds)


# -- 1. the fused dedup path beside a per-event Faust agent ------------------------------


def test_dedup_fused_path_through_broker(
    benchmark: Any, base: Settings, day: list[SimRecord], tmp_path: Path, report: list[Any]
) -> None:
    results: list[Timing] = []
    counters = {LINKS: count_columnar_rows, DEADLETTER: count_messages}

    def start(stack: ExitStack) -> tuple[Settings, WorkerProcess, FusedFeed, int]:
        s = _run_settings(base, "dedup")
        feed = build_fused_feed(s, day)  # watermark frames name the run's raw topics
        worker = _worker(stack, s, "dedup", tmp_path)
        warm, n_warm = warmup_messages(s, feed)
        topic_counters = {s.kafka.topic(t): c for t, c in counters.items()}
        timed_pass(
            s,
            s.kafka.topic(FUSED),
            warm,
            topic_counters,
            events=n_warm,
            rows_before=0,
            rows_expected=n_warm,
            timeout_s=START_TIMEOUT_S,
            alive=lambda: worker.alive,
        )
        return s, worker, feed, n_warm

    def run(current: tuple[Settings, WorkerProcess, FusedFeed, int]) -> None:
        s, worker, feed, n_warm = current
        results.append(
            timed_pass(
                s,
                s.kafka.topic(FUSED),
                feed.messages,
                {s.kafka.topic(t): c for t, c in counters.items()},
                events=feed.n_events,
                rows_before=n_warm,
                rows_expected=feed.n_events,
                timeout_s=600.0,
                alive=lambda: worker.alive,
            )
        )

    n_events = build_fused_feed(base, day).n_events
    record(benchmark, path="e2e-dedup", role=SUBJECT, events=n_events)
    _timed_rounds(benchmark, start, run, rounds=1 if load_knobs().smoke else 2)
    best = min(results, key=lambda t: t.seconds)
    assert best.events == n_events and best.rows == n_events  # one link or dead letter each
    benchmark.extra_info.update(
        events_per_s=round(best.events_per_s),
        seconds=round(best.seconds, 3),
        input_seconds=round(best.produce_seconds, 3),
    )
    report.append(("e2e-dedup", "fused dedup role", _pass_figures(best)))


def _peer_messages(events: list[dict[str, Any]]) -> list[Message]:
    """One JSON message per event, all with the city's key (quix-streams scopes state by it;
    the Faust peer ignores it)."""
    return [(CITY_KEY, orjson.dumps(e), 0, None) for e in events]


class LinkCollector:
    """Counts the peer's links (one per message) and keeps them to check against."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    def __call__(self, value: bytes) -> int:
        self.values.append(value)
        return 1

    def links(self) -> dict[int, tuple[int, bool]]:
        out = {}
        for value in self.values:
            link = orjson.loads(value)
            out[link["event_id"]] = (link["case_id"], link["is_new"])
        return out


def _start_peer(
    stack: ExitStack, base: Settings, module: str, work_dir: Path, warm: list[Message]
) -> tuple[Settings, PeerProcess]:
    """A peer worker ``module`` on its own topics (removed with ``stack``), warmed up by
    ``warm`` until it has linked every one of them."""
    s = _run_settings(base, "peer")
    stack.callback(_cleanup, s)
    # quix-streams' changelog topic of the state store: changelog__<group>--<topic>--...
    stack.callback(delete_topics, s, f"changelog__{s.worker.app_id}")
    create_run_topics(s, extra=(PEER_EVENTS, PEER_LINKS))
    proc = PeerProcess(s.replace(web_port=free_port()), work_dir / s.worker.app_id, module).start()
    stack.callback(proc.stop)
    timed_pass(
        s,
        s.kafka.topic(PEER_EVENTS),
        warm,
        {s.kafka.topic(PEER_LINKS): count_messages},
        events=len(warm),
        rows_before=0,
        rows_expected=len(warm),
        timeout_s=START_TIMEOUT_S,
        alive=lambda: proc.alive,
    )
    return s, proc


def _peer_round(
    benchmark: Any,
    base: Settings,
    day: list[SimRecord],
    n: int,
    module: str,
    tmp_path: Path,
) -> Timing:
    """Time ``n`` events through the peer worker ``module``; its links must be the ones
    :class:`GridDedup` makes of the same events (warm-up included) in process."""
    n_warm = 50
    events = peer_events(build_fused_feed(base, day).events, n + n_warm)
    assert len(events) == n + n_warm, "the simulated day is smaller than the peer's subset"
    messages = _peer_messages(events)
    results: list[Timing] = []
    collector = LinkCollector()

    def start(stack: ExitStack) -> tuple[Settings, PeerProcess]:
        return _start_peer(stack, base, module, tmp_path, messages[:n_warm])

    def run(current: tuple[Settings, PeerProcess]) -> None:
        s, proc = current
        results.append(
            timed_pass(
                s,
                s.kafka.topic(PEER_EVENTS),
                messages[n_warm:],
                {s.kafka.topic(PEER_LINKS): collector},
                events=n,
                rows_before=n_warm,
                rows_expected=n,
                timeout_s=600.0,
                alive=lambda: proc.alive,
            )
        )

    _timed_rounds(benchmark, start, run)
    engine = make_engine(base)
    expected = reference_links(engine.params, engine.spec, events)
    assert len(collector.values) == n + n_warm, "a peer sent more than one link for an event"
    assert collector.links() == expected, "the peer links events unlike the Faust peer's rules"
    t = results[0]
    benchmark.extra_info.update(
        events_per_s=round(t.events_per_s),
        seconds=round(t.seconds, 3),
        input_seconds=round(t.produce_seconds, 3),
    )
    return t


@pytest.mark.parametrize(
    ("name", "module"), [("faust-per-event", FAUST_MODULE), ("quix-streams", QUIX_MODULE)]
)
def test_dedup_per_event_peers(
    benchmark: Any,
    base: Settings,
    day: list[SimRecord],
    bench_scale: BenchScale,
    tmp_path: Path,
    report: list[Any],
    name: str,
    module: str,
) -> None:
    n = bench_scale.pick(30_000, smoke=2_000)
    record(benchmark, path="e2e-dedup", role=peer(name), events=n)
    t = _peer_round(benchmark, base, day, n, module, tmp_path)
    report.append(("e2e-dedup", f"peer: {name}", _pass_figures(t)))


def _wait_for(predicate: Callable[[], bool], timeout_s: float, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if not worker.alive:
            raise RuntimeError(f"the worker died; see {worker.log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker not ready after {timeout_s}s; see {worker.log_path}")
        time.sleep(0.2)


# -- 3. raw alarms into ClickHouse: citystream beside ClickHouse's Kafka engine ------------


def _ingest_settings(base: Settings, kind: str) -> Settings:
    return _run_settings(base, kind, own_database=True)


@pytest.fixture(scope="module")
def alarms(day: list[SimRecord], bench_scale: BenchScale) -> list[Message]:
    n = bench_scale.pick(150_000, smoke=5_000) + WARMUP_ALARMS
    out = plain_alarms(day, n)
    assert len(out) == n, f"the simulated day has {len(out)} plain alarms, {n} needed"
    return out


def _ingest_round(
    benchmark: Any,
    start: Callable[[ExitStack], tuple[Settings, Any, Callable[[], int], Callable[[], bool]]],
    alarms: list[Message],
) -> Any:
    outcome: list[Any] = []

    def run(current: tuple[Settings, Any, Callable[[], int], Callable[[], bool]]) -> None:
        s, _, count, alive = current
        outcome.append(
            timed_ingest(
                s,
                s.kafka.topic(RAW_TOPICS["sensor"]),
                alarms[WARMUP_ALARMS:],
                count,
                target=len(alarms),
                timeout_s=600.0,
                alive=alive,
            )
        )

    _timed_rounds(benchmark, start, run)
    t = outcome[0]
    benchmark.extra_info.update(
        rows_per_s=round((t.rows - WARMUP_ALARMS) / t.seconds),
        seconds=round(t.seconds, 3),
        input_seconds=round(t.produce_seconds, 3),
    )
    return t


def test_ingest_normalize_and_sink(
    benchmark: Any, base: Settings, alarms: list[Message], tmp_path: Path, report: list[Any]
) -> None:
    n = len(alarms) - WARMUP_ALARMS

    def start(stack: ExitStack) -> tuple[Settings, Any, Callable[[], int], Callable[[], bool]]:
        s = _ingest_settings(base, "ingest")
        client = fresh_database(stack, s)
        worker = _worker(stack, s, "normalize,sink", tmp_path)
        db = s.clickhouse.database

        def count() -> int:
            return scalar(client, f"SELECT count() FROM {db}.events")

        produce(s, s.kafka.topic(RAW_TOPICS["sensor"]), alarms[:WARMUP_ALARMS])
        _wait_for(lambda: count() >= WARMUP_ALARMS, START_TIMEOUT_S, worker)
        return s, client, count, lambda: worker.alive

    record(benchmark, path="e2e-ingest", role=SUBJECT, events=n)
    t = _ingest_round(benchmark, start, alarms)
    assert t.rows == len(alarms), f"{t.rows} event rows for {len(alarms)} alarms"
    report.append(("e2e-ingest", "normalize + sink", _ingest_figures(t, n)))


def test_ingest_clickhouse_kafka_engine_peer(
    benchmark: Any, base: Settings, alarms: list[Message], report: list[Any]
) -> None:
    n = len(alarms) - WARMUP_ALARMS

    def start(stack: ExitStack) -> tuple[Settings, Any, Callable[[], int], Callable[[], bool]]:
        s = _ingest_settings(base, "chkafka")
        stack.callback(_cleanup, s)
        create_run_topics(s)
        client = fresh_database(stack, s, migrate_schema=False)
        db, topic = s.clickhouse.database, s.kafka.topic(RAW_TOPICS["sensor"])
        commit_group_at_start(s, topic, db)
        for sql in kafka_engine_ddl(db, s.kafka.bootstrap_servers, topic, db):
            client.execute(sql)
        # the engine's consumer must stop before its database goes (callbacks run LIFO)
        stack.callback(client.execute, f"DROP TABLE IF EXISTS {db}.alarms_queue")
        stack.callback(client.execute, f"DROP TABLE IF EXISTS {db}.alarms_mv")

        def count() -> int:
            return scalar(client, f"SELECT count() FROM {db}.alarms")

        produce(s, topic, alarms[:WARMUP_ALARMS])
        deadline = time.monotonic() + START_TIMEOUT_S
        while count() < WARMUP_ALARMS:
            if time.monotonic() > deadline:
                pytest.fail(
                    "ClickHouse's Kafka engine stored nothing from the broker in "
                    f"{START_TIMEOUT_S:.0f}s (see var/clickhouse/clickhouse.log)"
                )
            time.sleep(0.2)
        return s, client, count, lambda: True

    record(benchmark, path="e2e-ingest", role=peer("clickhouse-kafka-engine"), events=n)
    t = _ingest_round(benchmark, start, alarms)
    assert t.rows == len(alarms), f"{t.rows} rows for {len(alarms)} alarms"
    report.append(("e2e-ingest", "peer: clickhouse kafka eng.", _ingest_figures(t, n)))
