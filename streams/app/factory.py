"""Build the Faust app for a set of worker roles. Nothing is created at import time."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import faust
from prometheus_client.core import CounterMetricFamily, Metric

from streams.app import faust_internals
from streams.app.metrics import Metrics
from streams.contracts.topics import MAX_MESSAGE_BYTES
from streams.settings import Settings

__all__ = [
    "GROUP_SEPARATOR",
    "ROLES",
    "App",
    "create_app",
    "faust_data_dir",
    "faust_home",
    "group_id",
    "overlapping_groups",
    "parse_roles",
    "roles_of_group",
]

log = logging.getLogger(__name__)

# role -> module whose ``register(app, settings, metrics)`` adds that role's agents
ROLES: dict[str, str] = {
    "normalize": "streams.app.normalize_agent",
    "dedup": "streams.app.dedup_agent",
    "dispatch": "streams.app.dispatch_agent",
    "lifecycle": "streams.app.lifecycle_agent",
    "departments": "streams.app.departments_agent",
    "supervisors": "streams.app.supervisors_agent",
    "escalation": "streams.app.escalation_agent",
    "patrols": "streams.app.patrols_agent",
    "sink": "streams.app.sink_agent",
    "api": "streams.app.api_agent",
}


class App(faust_internals.App):
    """The Faust app plus the worker's settings and metrics."""

    citystream_settings: Settings
    roles: frozenset[str]  # of this worker process
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


# Kafka topic names take [A-Za-z0-9._-] only, and Faust names its table changelogs after
# the group ("<group>-case-state-changelog"): roles are joined with "_" ("+" is illegal).
ROLE_JOINER = "_"
GROUP_SEPARATOR = "."


def group_id(settings: Settings, roles: Iterable[str]) -> str:
    """The Faust app id, i.e. the Kafka consumer group, of a worker running ``roles``.

    Faust's assignor assumes every member of a group runs the same agents, so the group is
    named by the role set: ``<CITYSTREAM_APP_ID>.<roles in ROLES order>`` such as
    ``citystream.dedup`` or ``citystream.dispatch_lifecycle``. Processes with the same
    roles are replicas sharing those roles' partitions; any other role set is its own
    group. The order roles are listed in does not matter.
    """
    chosen = set(roles)
    unknown = chosen - set(ROLES)
    if unknown or not chosen:
        raise ValueError(f"unknown role(s) {sorted(unknown) or '(none)'}")
    key = "all" if chosen == set(ROLES) else ROLE_JOINER.join(r for r in ROLES if r in chosen)
    return f"{settings.worker.app_id}{GROUP_SEPARATOR}{key}"


def roles_of_group(settings: Settings, group: str) -> set[str] | None:
    """The role set a group of this app id runs, or None for a group that is not one."""
    head = f"{settings.worker.app_id}{GROUP_SEPARATOR}"
    if not group.startswith(head):
        return None
    key = group[len(head) :]
    roles = set(ROLES) if key == "all" else set(key.split(ROLE_JOINER))
    return roles if roles <= set(ROLES) and group_id(settings, roles) == group else None


def overlapping_groups(
    settings: Settings, roles: Iterable[str], groups: dict[str, bool]
) -> tuple[list[str], list[str]]:
    """``(live, idle)``: the groups of this app id, other than this worker's own, that run
    some of its roles, from ``{group: has live members}`` (kafka_admin.consumer_groups).

    A live one means two groups would both consume those roles' topics: every record
    processed twice, two dedup writers on one state changelog. An idle one holds the
    offsets of an earlier layout, which this worker's group does not inherit.
    """
    roles = set(roles)
    own = group_id(settings, roles)
    live: list[str] = []
    idle: list[str] = []
    for group, has_members in sorted(groups.items()):
        theirs = roles_of_group(settings, group)
        if group != own and theirs is not None and theirs & roles:
            (live if has_members else idle).append(group)
    return live, idle


def faust_home(settings: Settings) -> Path:
    """The parent of every group's Faust folder."""
    return settings.home / "faust"


def faust_data_dir(settings: Settings, roles: Iterable[str]) -> Path:
    """Faust's own folder for this worker's group (by default it would be the working
    directory). Replicas on one host share it, as they did when all workers were one
    app: tables live in memory (``store="memory://"``), so Faust keeps nothing there that
    two processes could fight over."""
    return faust_home(settings) / group_id(settings, roles)


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust's form of the broker's TLS and SASL settings (None: plaintext)."""
    k = settings.kafka
    context = k.ssl_context()
    if k.sasl:
        return faust.SASLCredentials(
            username=k.sasl_username,
            password=k.sasl_password,
            mechanism=k.sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


def create_app(settings: Settings, roles: Iterable[str]) -> App:
    import importlib

    roles = list(roles)
    group = group_id(settings, roles)
    datadir = faust_data_dir(settings, roles)
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = App(
        group,
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        broker_credentials=broker_credentials(settings),
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
        stream_buffer_maxsize=min(8192, settings.pipeline.queues_max_events),
        table_standby_replicas=0,
        logging_config=None,
    )
    app.citystream_settings = settings
    app.roles = frozenset(roles)
    app.metrics = Metrics()
    app.metrics.set("citystream_worker_info", 1.0, group=group)
    app.metrics.add_collector(lambda: _faust_sensors(app))
    _register_web(app)
    _register_lag(app)
    for role in roles:
        importlib.import_module(ROLES[role]).register(app, settings, app.metrics)
    log.info("citystream app %s (consumer group) created with roles %s", group, ",".join(roles))
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
            app.metrics.set("citystream_consumer_lag_records", value, topic=topic)

    app.timer(5.0, name="consumer-lag")(measure_lag)


def _register_web(app: App) -> None:
    @app.page("/health")
    async def health(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        ok = app.consumer is not None and not app.rebalancing
        return web.json({"status": "ok" if ok else "starting", "app": app.conf.id})

    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        handoffs = faust_internals.HANDOFFS
        app.metrics.advance("citystream_faust_handoffs_total", handoffs.inline, path="inline")
        app.metrics.advance("citystream_faust_handoffs_total", handoffs.task, path="task")
        app.metrics.advance("citystream_faust_handoffs_total", handoffs.bulk, path="bulk")
        body, content_type = app.metrics.render(request.headers.get("Accept", ""))
        # a header, not content_type=: aiohttp refuses a content type with a charset in it
        return web.bytes(body, headers={"Content-Type": content_type})


def _faust_sensors(app: App) -> list[Metric]:
    """Faust's own monitor (a sensor every app has) as metric families at scrape time."""
    monitor = app.monitor
    received = CounterMetricFamily(
        "faust_messages_received", "messages the consumer received", labels=["topic"]
    )
    for tp, n in monitor.messages_received_by_topic.items():
        received.add_metric([str(tp)], float(n))
    sent = CounterMetricFamily("faust_messages_sent", "messages produced", labels=["topic"])
    for tp, n in monitor.messages_sent_by_topic.items():
        sent.add_metric([str(tp)], float(n))
    scalars = [
        ("faust_send_errors", "produce requests that failed", monitor.send_errors),
        (
            "faust_rebalances",
            "consumer group rebalances this worker went through",
            monitor.rebalances,
        ),
        (
            "faust_assignments_failed",
            "partition assignments that failed",
            monitor.assignments_failed,
        ),
    ]
    families: list[Metric] = [received, sent]
    for name, help_text, value in scalars:
        families.append(CounterMetricFamily(name, help_text, value=float(value)))
    return families
