"""``citystream demo``: the whole loop on the typhoon-day scenario, and what it did.

It starts the local Kafka and ClickHouse when needed, creates a fresh run (its own topic
prefix, consumer group and ClickHouse database), starts a worker with every role, feeds
it the simulated typhoon day through the raw topics, waits until every raw record is
accounted for in ClickHouse (an event linked to a case, or a dead letter), lets the
simulated departments work the cases, and prints a summary read back from ClickHouse.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="typhoon", choices=("typhoon", "ordinary"))
    parser.add_argument(
        "--scale",
        type=float,
        default=0.25,
        help="share of the full day's volume (1.0 = ~600k raw records)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds to wait for the pipeline to account for every record",
    )


def _query(client: Any, sql: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = client.execute(sql)
    return rows


def _accounted(client: Any, db: str) -> int:
    links = _query(client, f"SELECT count() FROM {db}.links FINAL")[0][0]
    dead = _query(client, f"SELECT count() FROM {db}.dead_letters FINAL")[0][0]
    return int(links) + int(dead)


def _stages(client: Any, db: str) -> int:
    return int(_query(client, f"SELECT count() FROM {db}.case_stages FINAL")[0][0])


def _summary(client: Any, db: str, produced: dict[str, int]) -> str:
    q = lambda sql: _query(client, sql.format(db=db))  # noqa: E731
    events = q("SELECT count() FROM {db}.links FINAL")[0][0]
    cases = q("SELECT count() FROM {db}.links FINAL WHERE is_new = 1")[0][0]
    dead = q("SELECT reason, count() FROM {db}.dead_letters FINAL GROUP BY reason ORDER BY 2 DESC")
    by_source = q("SELECT source, count() FROM {db}.links FINAL GROUP BY source ORDER BY source")
    by_dept = q(
        "SELECT department, count(), countIf(status = 'closed'), "
        "countIf(status = 'closed' AND (fixed_on_spot = 1 OR closed_at <= deadline)) "
        "FROM {db}.cases FINAL GROUP BY department ORDER BY 2 DESC"
    )
    recurrences = q("SELECT count() FROM {db}.links FINAL WHERE is_new = 1 AND recurrence_of != 0")
    names = {0: "sensor", 1: "hotline", 2: "patrol"}
    lines = [
        "citystream demo summary",
        f"  raw records in      {sum(produced.values()):>9}  "
        + ", ".join(f"{k} {v}" for k, v in sorted(produced.items())),
        f"  canonical events    {events:>9}  "
        + ", ".join(f"{names.get(s, s)} {n}" for s, n in by_source),
        f"  cases opened        {cases:>9}  (recurrences {recurrences[0][0]})",
        f"  duplicates merged   {events - cases:>9}  "
        f"({(events - cases) / max(1, events):.1%} of events joined an existing case)",
        f"  dead letters        {sum(n for _, n in dead):>9}  "
        + ", ".join(f"{r} {n}" for r, n in dead),
        "  cases per department (closed, closed on time):",
    ]
    total_closed = total_on_time = 0
    for dept, n, closed, on_time in by_dept:
        lines.append(f"    {dept:<12} {n:>7}  closed {closed:>6}  on time {on_time:>6}")
        total_closed += closed
        total_on_time += on_time
    lines.append(f"  on-time share of closed cases: {total_on_time / max(1, total_closed):.1%}")
    return "\n".join(lines)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from deploy.local import ensure_up
    from sinks.clickhouse import make_client
    from sinks.migrate import migrate
    from sinks.sql import DriverExecutor
    from streams.app.kafka_admin import ensure_topics
    from streams.runner import WorkerProcess, produce_records, wait_until
    from streams.simulator import Simulation

    print("citystream demo: starting Kafka and ClickHouse (installs what is missing)...")
    ensure_up(settings)
    stamp = time.strftime("%Y%m%d%H%M%S")
    run_settings = settings.replace(
        topic_prefix=f"demo{stamp}.",
        app_id=f"citystream-demo{stamp}",
        clickhouse_database=f"{settings.clickhouse.database}_demo",
    )
    db = run_settings.clickhouse.database
    client = make_client(run_settings, use_numpy=False)
    client.execute(f"DROP DATABASE IF EXISTS {db}")
    client.execute(f"CREATE DATABASE {db}")
    migrate(DriverExecutor(client), db, run_settings.calendar.timezone)
    ensure_topics(run_settings)
    log_path = Path(run_settings.home) / "demo" / f"worker-{stamp}.log"
    worker = WorkerProcess(run_settings, "all", run_settings.worker.web_port, log_path).start()
    print(
        f"citystream demo: worker started (log {log_path}); generating the "
        f"{args.scenario} day at scale {args.scale}..."
    )
    try:
        sim = Simulation(args.scenario, args.seed, args.scale)
        produced: dict[str, int] = {}
        expected = 0

        def feed() -> Any:
            nonlocal expected
            for rec in sim.records():
                produced[rec.source] = produced.get(rec.source, 0) + 1
                expected += len(rec.truth)
                yield rec.source, rec.key, rec.value, rec.arrival_ms

        started = time.monotonic()
        n = produce_records(run_settings, feed())
        print(
            f"citystream demo: {n} raw records sent in {time.monotonic() - started:.1f}s; "
            f"waiting for {expected} events and dead letters in ClickHouse..."
        )

        def progress() -> None:
            if not worker.alive:
                raise RuntimeError(f"the worker died; see {log_path}")
            print(f"  accounted {_accounted(client, db)}/{expected}", file=sys.stderr)

        if not wait_until(lambda: _accounted(client, db) >= expected, args.timeout, 5.0, progress):
            print(
                f"citystream demo: only {_accounted(client, db)} of {expected} records "
                f"accounted for after {args.timeout}s; see {log_path}",
                file=sys.stderr,
            )
            return 1
        last = -1
        while _stages(client, db) != last:  # let the departments finish answering
            last = _stages(client, db)
            time.sleep(5)
        print(f"citystream demo: done in {time.monotonic() - started:.1f}s")
        print(_summary(client, db, produced))
        print(
            f"BI: query database {db} (views kpi_*), or run "
            f"`CITYSTREAM_CLICKHOUSE_DATABASE={db} citystream kpi --out report.html`"
        )
        return 0
    finally:
        worker.stop()
