"""Fixtures for integration tests against the real local services (``citystream up``).

Every test here carries ``@pytest.mark.integration``. When a service does not answer, the
fixture skips the test on a developer machine and FAILS it under ``CI=true``: CI must
never pass by skipping. Kafka topics and ClickHouse databases are unique per test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from clickhouse_driver import Client

from bench.harness.services import unavailable
from deploy.local.clickhouse import clickhouse_healthy
from deploy.local.kafka import kafka_healthy
from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from streams.runner import remove_faust_dirs
from streams.settings import Settings, load_settings
from tests.integration.pipeline_runs import run_settings


def _unavailable(what: str) -> None:
    unavailable(f"{what} is not reachable: run `citystream up` (or `make up`) first")


def _unique(request: pytest.FixtureRequest, max_stem: int) -> str:
    """A name made of the test's name (readable in logs) and a random suffix (unique)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", request.node.name).strip("_").lower()
    return f"{stem[:max_stem]}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The settings the CLI would use (environment and settings file included)."""
    return load_settings()


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> str:
    """``host:port`` of a broker that answers a metadata request."""
    if not kafka_healthy(settings):
        _unavailable(f"Kafka at {settings.kafka.bootstrap_servers}")
    return settings.kafka.bootstrap_servers


@pytest.fixture(scope="session")
def _clickhouse_ready(settings: Settings) -> None:
    if not clickhouse_healthy(settings):
        _unavailable(f"ClickHouse at {settings.clickhouse.host}:{settings.clickhouse.port}")


def _client(settings: Settings, user: str, password: str, database: str = "default") -> Client:
    return Client(
        host=settings.clickhouse.host,
        port=settings.clickhouse.port,
        user=user,
        password=password,
        database=database,
        connect_timeout=5,
        send_receive_timeout=60,
    )


@pytest.fixture
def clickhouse(settings: Settings, _clickhouse_ready: None) -> Iterator[Client]:
    """A clickhouse_driver Client logged in as the pipeline user."""
    client = _client(settings, settings.clickhouse.user, settings.clickhouse.password)
    yield client
    client.disconnect()


@pytest.fixture
def clickhouse_bi(settings: Settings, _clickhouse_ready: None) -> Iterator[Client]:
    """A clickhouse_driver Client logged in as the read-only BI user."""
    client = _client(settings, settings.clickhouse.bi_user, settings.clickhouse.bi_password)
    yield client
    client.disconnect()


@pytest.fixture
def ch_database(clickhouse: Client, request: pytest.FixtureRequest) -> Iterator[str]:
    """The name of a fresh, empty ClickHouse database, dropped after the test."""
    name = "t_" + _unique(request, 40)
    clickhouse.execute(f"CREATE DATABASE {name}")
    yield name
    clickhouse.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def topic_name(request: pytest.FixtureRequest, kafka_bootstrap: str) -> Iterator[str]:
    """A topic name no other test uses. Topics whose name starts with it (the test's own
    and e.g. a Faust app's internal topics when the app id is derived from it) are deleted
    after the test so the dev broker does not pile up thousands of them."""
    name = "t-" + _unique(request, 80)
    yield name
    _delete_topics(kafka_bootstrap, prefix=name)
    remove_faust_dirs(load_settings(), name)  # app ids are derived from the name too


@pytest.fixture
def pipeline_settings(
    settings: Settings, topic_name: str, clickhouse: Client, ch_database: str
) -> Settings:
    """The settings of a run into ClickHouse: the test's own topics and consumer groups
    (not created yet: a test may change the partitions first) and its own database,
    migrated."""
    s = run_settings(settings, topic_name, clickhouse_database=ch_database)
    migrate(DriverExecutor(clickhouse), ch_database, s.calendar.timezone)
    return s


def _delete_topics(bootstrap: str, prefix: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="citystream-tests")
    try:
        doomed = [t for t in admin.list_topics() if t.startswith(prefix)]
        if doomed:
            admin.delete_topics(doomed, timeout_ms=30_000)
    finally:
        admin.close()
