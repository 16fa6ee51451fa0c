"""Build the Faust app for a set of worker roles. Nothing is created at import time."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import faust

from streams.app import faust_internals
from streams.app.metrics import Metrics
from streams.contracts.topics import MAX_MESSAGE_BYTES
from streams.settings import Settings

__all__ = ["ROLES", "App", "create_app", "faust_data_dir", "parse_roles"]

log = logging.getLogger(__name__)

# role -> module whose ``register(app, settings, metrics)`` adds that role's agents
ROLES: dict[str, str] = {
    "normalize": "streams.app.normalize_agent",
    "dedup": "streams.app.dedup_agent",
    "dispatch": "streams.app.dispatch_agent",
    "lifecycle": "streams.app.lifecycle_agent",
    "departments": "streams.app.departments_agent",
    "supervisors": "streams.app.supervisors_agent",
    "sink": "streams.app.sink_agent",
}


class App(faust_internals.App):
    """The Faust app plus the worker's settings and metrics."""

    citystream_settings: Settings
    metrics: Metrics


def parse_roles(text: str) -> list[str]:
    """``"normalize,dedup"`` or ``"all"`` to a checked list of roles."""
    names = [r.strip() for r in text.split(",") if r.strip()]
    if names == ["all"]:
        return list(ROLES)
    unknown = [r for r in names if r not in ROLES]
    if unknown or not names:
        raise ValueError(f"unknown role(s) {unknown or names}; choose from {', '.join(ROLES)}")
    return names


def faust_data_dir(settings: Settings) -> Path:
    """Faust's own folder for this app (by default it would be the working directory)."""
    return settings.home / "faust" / settings.worker.app_id


def create_app(settings: Settings, roles: Iterable[str]) -> App:
    import importlib

    datadir = faust_data_dir(settings)
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = App(
        settings.worker.app_id,
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        store="memory://",
        datadir=str(datadir),
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,  # Faust creates its own changelog topics
        web_enabled=True,
        web_bind=settings.worker.web_bind,
        web_port=settings.worker.web_port,
        web_in_thread=False,
        producer_max_request_size=MAX_MESSAGE_BYTES,
        # Faust's 16 KiB default puts each links/cases message in a request of its own
        producer_max_batch_size=4 * 1024 * 1024,
        producer_acks=-1,
        producer_linger_ms=2,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        # commits come from the 1 s interval: a count-based one runs inside Faust's fetch
        # loop and stalls it on a producer flush every few thousand raw records
        broker_commit_every=50_000,
        broker_session_timeout=10.0,  # a killed worker's partitions move on quickly
        broker_heartbeat_interval=3.0,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=8192,
        table_standby_replicas=0,
        logging_config=None,
    )
    app.citystream_settings = settings
    app.metrics = Metrics()
    _register_web(app)
    _register_lag(app)
    for role in roles:
        importlib.import_module(ROLES[role]).register(app, settings, app.metrics)
    log.info("citystream app %s created with roles %s", settings.worker.app_id, ",".join(roles))
    return app


def _register_lag(app: App) -> None:
    """Consumer lag per topic, from the high water marks the consumer already tracks."""

    async def measure_lag() -> None:
        consumer = app.consumer
        if consumer is None:
            return
        lag: dict[str, float] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            read = faust_internals.last_read_offset(consumer, tp)
            lag[tp.topic] = lag.get(tp.topic, 0.0) + max(
                0, highwater - (read + 1 if read is not None else 0)
            )
        for topic, value in lag.items():
            app.metrics.set("citystream_consumer_lag", value, topic=topic)

    app.timer(5.0, name="consumer-lag")(measure_lag)


def _register_web(app: App) -> None:
    @app.page("/health")
    async def health(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        ok = app.consumer is not None and not app.rebalancing
        return web.json({"status": "ok" if ok else "starting", "app": app.conf.id})

    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        handoffs = faust_internals.HANDOFFS
        app.metrics.set("citystream_faust_handoffs", handoffs.inline, path="inline")
        app.metrics.set("citystream_faust_handoffs", handoffs.task, path="task")
        return web.text(app.metrics.render(), content_type="text/plain; version=0.0.4")
