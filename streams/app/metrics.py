"""Worker metrics through ``prometheus_client``, named by the Prometheus conventions.

Each :class:`Metrics` owns a registry of its own (tests build many in one process; the
client's global registry would reject the second), with the process and platform
collectors beside the pipeline's metrics. The call sites name a metric and its labels,
``metrics.inc("citystream_records_total", 3, stage="normalize", source="sensor")``; every
metric, with its type, help and label names, is declared once in :data:`SPECS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

__all__ = ["LATENCY_BUCKETS_S", "SPECS", "Metrics", "Spec"]

LATENCY_BUCKETS_S: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass(frozen=True)
class Spec:
    kind: str  # counter, gauge or histogram
    help: str
    labels: tuple[str, ...] = ()


def _counter(help_text: str, *labels: str) -> Spec:
    return Spec("counter", help_text, labels)


def _gauge(help_text: str, *labels: str) -> Spec:
    return Spec("gauge", help_text, labels)


# the one list of what a worker exports (docs/operations.md lists the alerts built on it)
SPECS: dict[str, Spec] = {
    "citystream_worker_info": _gauge("the worker's consumer group and roles (always 1)", "group"),
    "citystream_records_total": _counter("raw records consumed", "stage", "source"),
    "citystream_events_total": _counter("canonical events processed", "stage"),
    "citystream_deadletters_total": _counter("dead-letter records", "reason"),
    "citystream_cases_opened_total": _counter("cases opened by dedup"),
    "citystream_events_merged_total": _counter("events that joined an existing case"),
    "citystream_events_late_total": _counter(
        "events flagged late (arrived more than late_after_s after their event time)", "source"
    ),
    "citystream_events_beyond_state_total": _counter(
        "late events beyond the dedup state's reach, given cases of their own"
    ),
    "citystream_closures_sent_total": _counter(
        "closure frames the lifecycle sent to dedup tiles (one per tile a case is held in)"
    ),
    "citystream_closures_received_total": _counter("case closures dedup received"),
    "citystream_closures_late_total": _counter(
        "closures dedup received after releasing events past their time (applied at once)"
    ),
    "citystream_cases_closed_in_state_total": _counter(
        "closures that closed a case held in a dedup tile's state"
    ),
    "citystream_request_updates_total": _counter(
        "hotline requests published again with an update (status, notes): hotline.updates"
    ),
    "citystream_dispatches_total": _counter("dispatch orders", "department"),
    "citystream_calendar_uncovered_total": _counter(
        "deadline lookups on dates of years no holiday table covers", "stage", "year"
    ),
    "citystream_transitions_total": _counter("case transitions", "action"),
    "citystream_api_requests_total": _counter("api requests answered", "status"),
    "citystream_verify_tasks_total": _counter("verify task records", "status"),
    "citystream_verifications_total": _counter(
        "simulated supervisors' verification results", "action"
    ),
    "citystream_escalations_total": _counter(
        "escalations raised (remind 催办, supervise 督办 and up the ladder)", "level"
    ),
    "citystream_rows_stored_total": _counter("rows written to ClickHouse", "table"),
    "citystream_clickhouse_insert_failures_total": _counter(
        "ClickHouse writes that failed and are retried (offsets held meanwhile)", "table", "error"
    ),
    "citystream_pings_total": _counter("patrol terminal pings accepted", "stage"),
    "citystream_patrol_sessions_total": _counter("patrol sessions closed and sent"),
    "citystream_patrol_visits_total": _counter("street segment visits sent"),
    "citystream_patrol_open_points": _gauge(
        "pings held in open patrol sessions, by raw partition", "partition"
    ),
    "citystream_consumer_lag_records": _gauge(
        "records behind the high water mark of the worker's assigned partitions", "topic"
    ),
    "citystream_dedup_ratio": _gauge("share of deduplicated events that joined a case"),
    "citystream_buffered_events": _gauge("events waiting in the dedup reorder buffer"),
    "citystream_buffered_events_peak": _gauge(
        "the most events the dedup reorder buffer held since the worker started"
    ),
    "citystream_raw_partitions_held": _gauge(
        "raw partitions paused because the dedup reorder buffer is full (back-pressure)"
    ),
    "citystream_backpressure_holds_total": _counter(
        "times the dedup reorder buffer's fill paused raw partitions ahead of the watermark"
    ),
    "citystream_faust_handoffs_total": _counter(
        "messages Faust's fetcher handed over, by path (inline = the fast path; bulk = raw"
        " records in batches)",
        "path",
    ),
    "citystream_batch_duration_seconds": Spec("histogram", "batch processing time", ("stage",)),
}

_KINDS: dict[str, type[Any]] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}


class _CallbackCollector(Collector):
    """Metric families computed at scrape time (Faust's own monitor, for one)."""

    def __init__(self, produce: Callable[[], Iterable[Metric]]) -> None:
        self._produce = produce

    def collect(self) -> Iterable[Metric]:
        return list(self._produce())


class Metrics:
    """The counters, gauges and latency histograms of one worker process (thread-safe:
    prometheus_client locks each value)."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        for name, spec in SPECS.items():
            extra = {"buckets": LATENCY_BUCKETS_S} if spec.kind == "histogram" else {}
            self._metrics[name] = _KINDS[spec.kind](
                name, spec.help, spec.labels, registry=self.registry, **extra
            )
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        self._child(name, "counter", labels).inc(value)

    def set(self, name: str, value: float, **labels: str) -> None:
        self._child(name, "gauge", labels).set(value)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        self._child(name, "histogram", labels).observe(seconds)

    def advance(self, name: str, total: float, **labels: str) -> None:
        """Bring a counter up to ``total``, a count kept elsewhere (a counter only rises)."""
        behind = total - self.value(name, **labels)
        if behind > 0:
            self.inc(name, behind, **labels)

    def value(self, name: str, **labels: str) -> float:
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found

    def add_collector(self, produce: Callable[[], Iterable[Metric]]) -> None:
        self.registry.register(_CallbackCollector(produce))

    def _child(self, name: str, kind: str, labels: dict[str, str]) -> Any:
        spec = SPECS.get(name)
        if spec is None or spec.kind != kind:
            raise KeyError(f"{name} is not a declared {kind} metric")
        if set(labels) != set(spec.labels):
            raise KeyError(f"{name} takes labels {spec.labels}, not {tuple(labels)}")
        metric = self._metrics[name]
        return metric.labels(**labels) if spec.labels else metric

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition of every metric and its content type, in the format the scraper's
        ``Accept`` header asks for (OpenMetrics or the Prometheus text format)."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
