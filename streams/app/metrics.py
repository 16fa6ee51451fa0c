"""Worker metrics in the Prometheus text format (no client library: a few counters suffice)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["LATENCY_BUCKETS_S", "Metrics"]

LATENCY_BUCKETS_S: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

# metric name -> (type, help); the one list of what a worker exports
_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "citystream_records_total": ("counter", "raw records consumed, by stage and source"),
    "citystream_events_total": ("counter", "canonical events processed, by stage"),
    "citystream_deadletters_total": ("counter", "dead-letter records, by reason"),
    "citystream_cases_opened_total": ("counter", "cases opened by dedup"),
    "citystream_events_merged_total": ("counter", "events that joined an existing case"),
    "citystream_events_late_total": (
        "counter",
        "events flagged late (arrived more than late_after_s after their event time), by source",
    ),
    "citystream_events_beyond_state_total": (
        "counter",
        "late events beyond the dedup state's reach, given cases of their own",
    ),
    "citystream_closures_sent_total": (
        "counter",
        "closure frames the lifecycle sent to dedup tiles (one per tile a case is held in)",
    ),
    "citystream_closures_received_total": ("counter", "case closures dedup received"),
    "citystream_closures_late_total": (
        "counter",
        "closures dedup received after releasing events past their time (applied at once)",
    ),
    "citystream_cases_closed_in_state_total": (
        "counter",
        "closures that closed a case held in a dedup tile's state",
    ),
    "citystream_request_updates_total": (
        "counter",
        "hotline requests published again with an update (status, notes): hotline.updates",
    ),
    "citystream_dispatches_total": ("counter", "dispatch orders, by department"),
    "citystream_calendar_uncovered_total": (
        "counter",
        "deadline lookups on dates of years no holiday table covers, by stage and year",
    ),
    "citystream_transitions_total": ("counter", "case transitions, by action"),
    "citystream_api_requests_total": ("counter", "api requests answered, by HTTP status"),
    "citystream_verify_tasks_total": ("counter", "verify task records, by status"),
    "citystream_verifications_total": (
        "counter",
        "simulated supervisors' verification results, by action",
    ),
    "citystream_escalations_total": (
        "counter",
        "escalations raised (remind 催办, supervise 督办 and up the ladder), by level",
    ),
    "citystream_rows_stored_total": ("counter", "rows written to ClickHouse, by table"),
    "citystream_pings_total": ("counter", "patrol terminal pings accepted, by stage"),
    "citystream_patrol_sessions_total": ("counter", "patrol sessions closed and sent"),
    "citystream_patrol_visits_total": ("counter", "street segment visits sent"),
    "citystream_patrol_open_points": (
        "gauge",
        "pings held in open patrol sessions, by raw partition",
    ),
    "citystream_consumer_lag": ("gauge", "messages behind the high water mark, by topic"),
    "citystream_dedup_ratio": ("gauge", "share of deduplicated events that joined a case"),
    "citystream_buffered_events": ("gauge", "events waiting in the dedup reorder buffer"),
    "citystream_faust_handoffs": (
        "gauge",
        "messages Faust's fetcher handed over since start, by path (inline = the fast path)",
    ),
    "citystream_batch_seconds": ("histogram", "batch processing time, by stage"),
}


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + body + "}"


@dataclass
class Metrics:
    """Thread-safe counters, gauges and latency histograms of one worker process."""

    _values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(
        default_factory=lambda: defaultdict(float)
    )
    _hist: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        self._check(name, "counter")
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] += value

    def set(self, name: str, value: float, **labels: str) -> None:
        self._check(name, "gauge")
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = value

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        self._check(name, "histogram")
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            # buckets..., +Inf count, sum
            h = self._hist.setdefault(key, [0.0] * (len(LATENCY_BUCKETS_S) + 2))
            h[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
            h[-1] += seconds

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    @staticmethod
    def _check(name: str, kind: str) -> None:
        if _DESCRIPTIONS.get(name, ("", ""))[0] != kind:
            raise KeyError(f"{name} is not a declared {kind} metric")

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        with self._lock:
            values = dict(self._values)
            hists = {k: list(v) for k, v in self._hist.items()}
        lines: list[str] = []
        for name, (kind, help_text) in _DESCRIPTIONS.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for (n, labels), v in sorted(values.items()):
                if n == name:
                    lines.append(f"{name}{_labels(labels)} {v:g}")
            for (n, labels), h in sorted(hists.items()):
                if n != name:
                    continue
                cumulative = 0.0
                for bound, count in zip((*LATENCY_BUCKETS_S, float("inf")), h[:-1], strict=True):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    lines.append(f"{name}_bucket{_labels((*labels, ('le', le)))} {cumulative:g}")
                lines.append(f"{name}_sum{_labels(labels)} {h[-1]:g}")
                lines.append(f"{name}_count{_labels(labels)} {cumulative:g}")
        return "\n".join(lines) + "\n"
