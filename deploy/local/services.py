"""The local services as one unit: start all, stop all, report all.

A lock file under ``<home>`` serialises concurrent ``up``/``down`` calls (several
engineers or test sessions may call them at once on one machine).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from deploy.local.clickhouse import CLICKHOUSE
from deploy.local.kafka import KAFKA
from deploy.local.process import DeployError, LocalService
from streams.settings import Settings

__all__ = ["SERVICES", "ServiceStatus", "ensure_up", "service_status", "stop_all"]

_SERVICES: tuple[LocalService, ...] = (KAFKA, CLICKHOUSE)
SERVICES = tuple(service.name for service in _SERVICES)


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


def ensure_up(settings: Settings) -> list[ServiceStatus]:
    """Start whatever is not running and wait until every service is healthy (idempotent)."""
    with _locked(settings):
        # start all first, then wait: the start-ups overlap
        for service in _SERVICES:
            service.start(settings)
        for service in _SERVICES:
            service.wait(settings)
    statuses = service_status(settings)
    sick = [s.name for s in statuses if not s.healthy]
    if sick:
        raise DeployError(f"started but not healthy: {', '.join(sick)}")
    return statuses


def stop_all(settings: Settings) -> list[str]:
    """Stop every service that runs; returns the names of those that were stopped."""
    stopped: list[str] = []
    errors: list[str] = []
    with _locked(settings):
        for service in _SERVICES:
            try:
                if service.stop(settings):
                    stopped.append(service.name)
            except DeployError as exc:
                errors.append(f"{service.name}: {exc}")
    if errors:
        raise DeployError("could not stop everything:\n" + "\n".join(errors))
    return stopped


def service_status(settings: Settings) -> list[ServiceStatus]:
    """Each service: pid (None when not running), address, and whether it answers."""
    return [
        ServiceStatus(
            service.name,
            service.pid(settings),
            service.address(settings),
            service.healthy(settings),
        )
        for service in _SERVICES
    ]
