"""The local services as one unit: start all, stop all, report all.

A lock file under ``<home>`` serialises concurrent ``up``/``down`` calls (several
engineers or test sessions may call them at once on one machine).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from deploy.local import clickhouse, kafka
from deploy.local.process import DeployError
from streams.settings import Settings

__all__ = ["SERVICES", "ServiceStatus", "ensure_up", "service_status", "stop_all"]

SERVICES = ("kafka", "clickhouse")


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    address: str
    healthy: bool


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    settings.home.mkdir(parents=True, exist_ok=True)
    with open(settings.home / ".deploy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _address(settings: Settings, name: str) -> str:
    if name == "kafka":
        return settings.kafka.bootstrap_servers
    return (
        f"{settings.clickhouse.host}:{settings.clickhouse.port} "
        f"(http {settings.clickhouse.http_port})"
    )


def ensure_up(settings: Settings) -> list[ServiceStatus]:
    """Start whatever is not running and wait until every service is healthy (idempotent)."""
    with _locked(settings):
        # start both first, then wait: the two start-ups overlap
        kafka.start_kafka(settings)
        clickhouse.start_clickhouse(settings)
        kafka.wait_kafka(settings)
        clickhouse.wait_clickhouse(settings)
    statuses = service_status(settings)
    sick = [s.name for s in statuses if not s.healthy]
    if sick:
        raise DeployError(f"started but not healthy: {', '.join(sick)}")
    return statuses


def stop_all(settings: Settings) -> list[str]:
    """Stop every service that runs; returns the names of those that were stopped."""
    stoppers: dict[str, Callable[[Settings], bool]] = {
        "kafka": kafka.stop_kafka,
        "clickhouse": clickhouse.stop_clickhouse,
    }
    stopped: list[str] = []
    errors: list[str] = []
    with _locked(settings):
        for name in SERVICES:
            try:
                if stoppers[name](settings):
                    stopped.append(name)
            except DeployError as exc:
                errors.append(f"{name}: {exc}")
    if errors:
        raise DeployError("could not stop everything:\n" + "\n".join(errors))
    return stopped


def service_status(settings: Settings) -> list[ServiceStatus]:
    """Each service: pid (None when not running), address, and whether it answers."""
    return [
        ServiceStatus(
            "kafka",
            kafka.kafka_pid(settings),
            _address(settings, "kafka"),
            kafka.kafka_healthy(settings),
        ),
        ServiceStatus(
            "clickhouse",
            clickhouse.clickhouse_pid(settings),
            _address(settings, "clickhouse"),
            clickhouse.clickhouse_healthy(settings),
        ),
    ]
