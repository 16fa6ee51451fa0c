"""Fresh run resources for the end-to-end benchmarks: topics, app id, worker processes.

Every round gets its own topic prefix and app id (``bench-e2e-<kind>-<id>``), deleted
afterwards, so rounds and benchmarks never see each other's records or offsets.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.e2e.kafka_io import create_run_topics, delete_topics
from bench.harness.services import unavailable
from deploy.local.clickhouse import clickhouse_healthy
from deploy.local.kafka import kafka_healthy
from streams.runner import WorkerProcess, free_port, remove_faust_dirs
from streams.settings import Settings, load_settings

__all__ = [
    "Rounds",
    "cleanup",
    "fresh_database",
    "peak_rss_bytes",
    "run_settings",
    "service_settings",
    "start_worker",
    "timed_rounds",
]


def service_settings() -> Settings:
    """The settings of a run on one partition, once Kafka and ClickHouse answer."""
    settings = load_settings().replace(partitions=1)
    if not kafka_healthy(settings):
        unavailable(f"Kafka at {settings.kafka.bootstrap_servers} is not reachable: citystream up")
    if not clickhouse_healthy(settings):
        unavailable("ClickHouse is not reachable: run `citystream up` first")
    return settings


def fresh_database(stack: ExitStack, settings: Settings, migrate_schema: bool = True) -> Any:
    """A client of the run's own ClickHouse database, created now (migrated unless told
    otherwise) and dropped when ``stack`` closes."""
    from sinks.clickhouse import make_client
    from sinks.migrate import migrate
    from sinks.sql import DriverExecutor

    client = make_client(settings, use_numpy=False)
    db = settings.clickhouse.database
    client.execute(f"CREATE DATABASE {db}")
    stack.callback(client.disconnect)
    stack.callback(client.execute, f"DROP DATABASE IF EXISTS {db}")
    if migrate_schema:
        migrate(DriverExecutor(client), db, settings.calendar.timezone)
    return client


def run_settings(
    base: Settings, kind: str, *, own_database: bool = False, **changes: Any
) -> Settings:
    """A run's own topic prefix and app id (and ClickHouse database: ``own_database``,
    created by :func:`fresh_database`), named ``bench-e2e-<kind>-<id>``."""
    tag = f"bench-e2e-{kind}-{uuid.uuid4().hex[:8]}"
    if own_database:
        changes["clickhouse_database"] = "bench_" + tag.replace("-", "_")
    return base.replace(topic_prefix=f"{tag}.", app_id=f"{tag}-app", **changes)


def cleanup(settings: Settings) -> None:
    delete_topics(settings, settings.kafka.topic_prefix.rstrip("."))
    remove_faust_dirs(settings, settings.worker.app_id)


class Rounds:
    """Fresh resources for every pedantic round; the previous round's are released first."""

    def __init__(self, start: Callable[[ExitStack], Any]) -> None:
        self.start = start
        self.stack = ExitStack()
        self.current: Any = None

    def setup(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        self.close()
        self.current = self.start(self.stack)
        return (self.current,), {}

    def close(self) -> None:
        self.stack.close()
        self.stack = ExitStack()


def timed_rounds(
    benchmark: Any, start: Callable[[ExitStack], Any], run: Callable[[Any], None], rounds: int = 1
) -> None:
    """Time ``rounds`` rounds of ``run``, each on fresh resources from ``start``."""
    fresh = Rounds(start)
    try:
        benchmark.pedantic(run, setup=fresh.setup, rounds=rounds, iterations=1)
    finally:
        fresh.close()


def start_worker(
    stack: ExitStack, settings: Settings, roles: str, tmp: Path, *, topics: bool = True
) -> WorkerProcess:
    """A worker on the run's topics (created unless ``topics`` is False: a second worker),
    stopped and cleaned up with ``stack``."""
    if topics:
        stack.callback(cleanup, settings)
        create_run_topics(settings)
    log = tmp / f"{settings.worker.app_id}-{free_port()}.log"
    worker = WorkerProcess(settings, roles, free_port(), log).start()
    stack.callback(worker.stop)
    return worker


def peak_rss_bytes(worker: WorkerProcess) -> int:
    """The worker process's peak resident memory so far (Linux ``VmHWM``)."""
    if worker.proc is None:
        raise RuntimeError("the worker was not started")
    for line in Path(f"/proc/{worker.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM in /proc/{worker.proc.pid}/status")
