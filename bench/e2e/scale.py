"""The scale curve: fused path and ingest throughput over a grid of workers x partitions.

Each point is a run of the end-to-end benchmarks' machinery (``bench/test_bench_e2e.py``)
with ``CITYSTREAM_PARTITIONS=P`` and ``W`` worker processes in one consumer group:

* ``e2e-dedup``: W workers with role ``dedup`` on the typhoon day's fused feed
  (:func:`bench.e2e.feed.build_fused_feed`, raw records dealt over P raw partitions), timed
  from the first fused message to the last link, as ``test_dedup_fused_path_through_broker``;
* ``e2e-ingest``: W workers with roles ``normalize,sink``: single sensor alarms spread over
  P raw partitions by their device key, to rows in ClickHouse, as
  ``test_ingest_normalize_and_sink``.

Every point gets its own topics, app id and database, deleted afterwards; the workers are
healthy and warmed up (every partition has seen input) before the clock starts.

    make bench-scale                                     # 1,2,3 workers x 1,6,12 partitions
    make bench-scale SCALE_ARGS="--smoke"                # tiny sizes
    python -m bench.e2e.scale --workers 1,2 --partitions 1,6 --day-scale 0.2 --alarms 20000

Writes ``scale.md`` (table), ``scale.svg`` (plot) and ``scale.json`` to ``--out``
(default ``var/bench/scale``), the workers' logs to its ``logs/``; ``--render`` redraws the
table and plot of a saved ``scale.json``. Needs ``citystream up``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.e2e.ch_kafka import plain_alarms, scalar, timed_ingest
from bench.e2e.feed import FusedFeed, build_fused_feed, warmup_messages
from bench.e2e.kafka_io import (
    Message,
    count_columnar_rows,
    count_messages,
    create_run_topics,
    produce,
    wait_healthy,
)
from bench.e2e.rounds import cleanup, fresh_database, run_settings
from bench.e2e.scale_report import ScalePoint, render_svg, render_table
from bench.e2e.timing import timed_pass
from streams.contracts.topics import DEADLETTER, FUSED, LINKS, RAW_TOPICS, default_partition
from streams.contracts.watermarks import decode_watermark, encode_watermark, is_watermark_frame
from streams.runner import WorkerProcess, free_port
from streams.settings import Settings, load_settings
from streams.simulator import SimRecord, Simulation

__all__ = ["PATHS", "ScaleSize", "main", "run_grid"]

PATHS = ("e2e-dedup", "e2e-ingest")
SCENARIO, SEED = "typhoon", 1
START_TIMEOUT_S = 180.0
RUN_TIMEOUT_S = 900.0
WARMUP_ALARMS = 200
WARMUP_EVENTS = 256


@dataclass(frozen=True)
class ScaleSize:
    day_scale: float  # of the simulated typhoon day (1.0: ~301 k fused events)
    alarms: int  # timed sensor alarms of the ingest path

    @classmethod
    def full(cls) -> ScaleSize:
        return cls(1.0, 150_000)  # the sizes of the e2e suite

    @classmethod
    def smoke(cls) -> ScaleSize:
        return cls(0.03, 2_000)


def _start_workers(
    stack: ExitStack, settings: Settings, roles: str, n: int, workdir: Path
) -> Callable[[], bool]:
    """``n`` workers of one group on the run's fresh topics; returns "all alive"."""
    stack.callback(cleanup, settings)
    create_run_topics(settings)
    procs = []
    for i in range(n):
        log = workdir / f"{settings.worker.app_id}-{i}.log"
        procs.append(WorkerProcess(settings, roles, free_port(), log).start())
        stack.callback(procs[-1].stop)
    for proc in procs:
        wait_healthy(proc.web_port, START_TIMEOUT_S, lambda p=proc: p.alive)  # type: ignore[misc]
    return lambda: all(p.alive for p in procs)


def _retarget(feed: FusedFeed, template: Settings, settings: Settings) -> list[Message]:
    """``feed`` (built for ``template``'s topics) with its watermark frames naming the run's
    raw topics: the normalized day is the same for every run of a partition count."""
    old, new = template.kafka.topic_prefix, settings.kafka.topic_prefix
    out: list[Message] = []
    for key, value, partition, ts in feed.messages:
        if is_watermark_frame(value):
            frame = decode_watermark(value)
            topic = new + frame.topic.removeprefix(old)
            value = encode_watermark(
                type(frame)(topic, frame.partition, frame.watermark_ms, frame.idle)
            )
        out.append((key, value, partition, ts))
    return out


def fused_point(
    base: Settings, feed: FusedFeed, template: Settings, workers: int, workdir: Path
) -> ScalePoint:
    partitions = template.kafka.partitions
    s = run_settings(base, "scale-dedup", own_database=True, partitions=partitions)
    messages = _retarget(feed, template, s)
    counters = {
        s.kafka.topic(LINKS): count_columnar_rows,
        s.kafka.topic(DEADLETTER): count_messages,
    }
    fused = s.kafka.topic(FUSED)
    with ExitStack() as stack:
        alive = _start_workers(stack, s, "dedup", workers, workdir)
        every = max(1, feed.n_events // WARMUP_EVENTS)  # spread: every fused partition
        warm, n_warm = warmup_messages(s, feed, WARMUP_EVENTS, every)
        timed_pass(
            s, fused, warm, counters, events=n_warm, rows_before=0, rows_expected=n_warm,
            timeout_s=START_TIMEOUT_S, alive=alive,
        )  # fmt: skip
        t = timed_pass(
            s, fused, messages, counters, events=feed.n_events, rows_before=n_warm,
            rows_expected=feed.n_events, timeout_s=RUN_TIMEOUT_S, alive=alive,
        )  # fmt: skip
    return ScalePoint("e2e-dedup", workers, partitions, t.events, t.seconds, t.produce_seconds)


def ingest_point(
    base: Settings, alarms: Sequence[Message], workers: int, partitions: int, workdir: Path
) -> ScalePoint:
    s = run_settings(base, "scale-ingest", own_database=True, partitions=partitions)
    topic, db = s.kafka.topic(RAW_TOPICS["sensor"]), s.clickhouse.database
    with ExitStack() as stack:
        client = fresh_database(stack, s)
        alive = _start_workers(stack, s, "normalize,sink", workers, workdir)

        def count() -> int:
            # distinct events: with several workers a rebalance redelivers, and the sink
            # writes at least once (the table's merges fold the copies later)
            return scalar(client, f"SELECT uniqExact(event_id) FROM {db}.events")

        produce(s, topic, alarms[:WARMUP_ALARMS])
        deadline = time.monotonic() + START_TIMEOUT_S
        while count() < WARMUP_ALARMS:
            if not alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the warm-up alarms were not stored; see {workdir}")
            time.sleep(0.2)
        timed = [(k, v, _keyed(k, partitions), ts) for k, v, _, ts in alarms]
        t = timed_ingest(
            s, topic, timed[WARMUP_ALARMS:], count, target=len(alarms),
            timeout_s=RUN_TIMEOUT_S, alive=alive,
        )  # fmt: skip
    if t.rows != len(alarms):
        raise AssertionError(f"{t.rows} event rows for {len(alarms)} alarms")
    n = len(alarms) - WARMUP_ALARMS
    return ScalePoint("e2e-ingest", workers, partitions, n, t.seconds, t.produce_seconds)


def _keyed(key: bytes | None, partitions: int) -> int:
    """The timed input goes out in whole record batches, one per partition: each alarm to
    where the warm-up's keyed messages went."""
    if key is None:
        raise ValueError("a plain alarm is keyed by its device")
    return default_partition(key, partitions)


def _alarms(records: Sequence[SimRecord], n: int) -> list[Message]:
    """The e2e suite's plain alarms, each to the partition of its device key."""
    out = plain_alarms(records, n + WARMUP_ALARMS)
    if len(out) != n + WARMUP_ALARMS:
        raise ValueError(f"the simulated day has {len(out)} plain alarms, {n} wanted")
    return [(key, value, None, ts) for key, value, _, ts in out]


def run_grid(
    base: Settings,
    workers: Sequence[int],
    partitions: Sequence[int],
    paths: Sequence[str],
    size: ScaleSize,
    workdir: Path,
    log: Callable[[str], None] = print,
) -> list[ScalePoint]:
    """Every point of the grid, one after the other (partitions outer, workers inner)."""
    workdir.mkdir(parents=True, exist_ok=True)
    day = sorted(Simulation(SCENARIO, SEED, size.day_scale).records(), key=lambda r: r.arrival_ms)
    alarms = _alarms(day, size.alarms) if "e2e-ingest" in paths else []
    points = []
    for p in partitions:
        template = run_settings(base, "scale-template", own_database=True, partitions=p)
        feed = build_fused_feed(template, day) if "e2e-dedup" in paths else None
        for w in workers:
            for path in paths:
                if path == "e2e-dedup":
                    assert feed is not None
                    point = fused_point(base, feed, template, w, workdir)
                else:
                    point = ingest_point(base, alarms, w, p, workdir)
                log(point.line())
                points.append(point)
    return points


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.e2e.scale", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (a check, not a figure)")
    ap.add_argument("--workers", type=_ints, default=[1, 2, 3])
    ap.add_argument("--partitions", type=_ints, default=[1, 6, 12])
    ap.add_argument("--paths", type=lambda t: t.split(","), default=list(PATHS))
    ap.add_argument("--day-scale", type=float, help="of the typhoon day (default: by size)")
    ap.add_argument("--alarms", type=int, help="timed alarms of e2e-ingest (default: by size)")
    ap.add_argument("--out", type=Path, default=Path("var/bench/scale"))
    ap.add_argument(
        "--render", type=Path, metavar="SCALE_JSON", help="only redraw the table and plot of a run"
    )
    args = ap.parse_args(argv)
    unknown = set(args.paths) - set(PATHS)
    if unknown:
        ap.error(f"unknown path(s) {sorted(unknown)}; known: {', '.join(PATHS)}")
    return args


def _write(out: Path, points: Sequence[ScalePoint], caption: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.md").write_text(render_table(points, caption))
    (out / "scale.svg").write_text(render_svg(points, caption))
    (out / "scale.json").write_text(
        json.dumps({"caption": caption, "points": [asdict(p) for p in points]}, indent=2)
    )


def main(argv: Sequence[str] | None = None) -> int:
    from bench.harness.machine import machine_info, machine_line

    args = parse_args(argv)
    if args.render is not None:
        saved = json.loads(args.render.read_text())
        _write(args.out, [ScalePoint(**p) for p in saved["points"]], saved["caption"])
        return 0
    size = ScaleSize.smoke() if args.smoke else ScaleSize.full()
    size = ScaleSize(args.day_scale or size.day_scale, args.alarms or size.alarms)
    started = time.monotonic()
    logs = args.out / "logs"  # the workers' logs
    points = run_grid(load_settings(), args.workers, args.partitions, args.paths, size, logs)
    caption = (
        f"{machine_line(machine_info())}; typhoon day x{size.day_scale:g},"
        f" {size.alarms:,} alarms; {time.strftime('%Y-%m-%d')}"
        + (" (SMOKE: tiny sizes)" if args.smoke else "")
    )
    _write(args.out, points, caption)
    print(f"scale curve: {len(points)} points in {time.monotonic() - started:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
