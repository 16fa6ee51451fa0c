"""The worker's Prometheus exposition, parsed back with the client library's parser."""

from __future__ import annotations

import math
import re

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from streams.app.metrics import LATENCY_BUCKETS_S, SPECS, Metrics

# https://prometheus.io/docs/practices/naming/: a unit suffix, or none for a count
_UNIT_SUFFIXES = ("_total", "_seconds", "_bytes", "_ratio", "_records", "_info")


def _samples(m: Metrics) -> tuple[dict[str, str], list[Sample]]:
    body, content_type = m.render()
    assert content_type.startswith("text/plain; version=")
    families = list(text_string_to_metric_families(body.decode()))
    return {f.name: f.type for f in families}, [s for f in families for s in f.samples]


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    hits = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


def test_render_parses_as_prometheus_text() -> None:
    m = Metrics()
    m.inc("citystream_records_total", 3, stage="normalize", source="sensor")
    m.inc("citystream_records_total", stage="normalize", source="sensor")
    m.inc("citystream_records_total", 2, stage="normalize", source="hotline")
    m.inc("citystream_cases_opened_total", 5)
    m.set("citystream_consumer_lag_records", 12, topic="raw.sensor")
    m.set("citystream_consumer_lag_records", 7, topic="raw.sensor")
    observed = [0.0005, 0.003, 0.05, 0.05, 0.7, 20.0]
    for s in observed:
        m.observe("citystream_batch_duration_seconds", s, stage="dedup")
    m.observe("citystream_batch_duration_seconds", 0.2, stage="sink")

    types, samples = _samples(m)
    assert types["citystream_records"] == "counter"
    assert types["citystream_batch_duration_seconds"] == "histogram"
    assert _value(samples, "citystream_records_total", source="sensor", stage="normalize") == 4
    assert _value(samples, "citystream_records_total", source="hotline", stage="normalize") == 2
    assert _value(samples, "citystream_cases_opened_total") == 5
    assert _value(samples, "citystream_consumer_lag_records", topic="raw.sensor") == 7
    assert m.value("citystream_records_total", stage="normalize", source="sensor") == 4

    buckets = [
        (s.labels["le"], s.value)
        for s in samples
        if s.name == "citystream_batch_duration_seconds_bucket" and s.labels["stage"] == "dedup"
    ]
    assert [float(le) for le, _ in buckets] == [*LATENCY_BUCKETS_S, math.inf]
    for (le, count), bound in zip(buckets, [*LATENCY_BUCKETS_S, math.inf], strict=True):
        assert count == sum(1 for s in observed if s <= bound), le
    count = _value(samples, "citystream_batch_duration_seconds_count", stage="dedup")
    assert buckets[-1][1] == count == len(observed)
    total = _value(samples, "citystream_batch_duration_seconds_sum", stage="dedup")
    assert total == pytest.approx(sum(observed))
    assert _value(samples, "citystream_batch_duration_seconds_count", stage="sink") == 1


def test_large_counters_keep_every_digit_and_labels_are_escaped() -> None:
    m = Metrics()
    m.inc("citystream_rows_stored_total", 1_234_567_891, table="events")
    m.inc("citystream_rows_stored_total", 1, table="events")
    odd = 'a "quoted" \\ back\\slash\nnewline'
    m.inc("citystream_deadletters_total", 3, reason=odd)
    _, samples = _samples(m)
    assert _value(samples, "citystream_rows_stored_total", table="events") == 1_234_567_892
    assert _value(samples, "citystream_deadletters_total", reason=odd) == 3


def test_names_follow_the_conventions_and_process_metrics_are_there() -> None:
    for name, spec in SPECS.items():
        assert re.fullmatch(r"citystream_[a-z0-9_]+", name), name
        assert (spec.kind == "counter") == name.endswith("_total"), name
        if spec.kind == "histogram":
            assert name.endswith("_seconds"), name
    types, samples = _samples(Metrics())
    names = {s.name for s in samples}
    assert "process_cpu_seconds_total" in names or "process_virtual_memory_bytes" in names
    assert "python_info" in names
    assert "citystream_batch_duration_seconds" in types


def test_advance_brings_a_counter_up_to_a_total_kept_elsewhere() -> None:
    m = Metrics()
    m.advance("citystream_faust_handoffs_total", 10, path="inline")
    m.advance("citystream_faust_handoffs_total", 25, path="inline")
    m.advance("citystream_faust_handoffs_total", 20, path="inline")  # never down
    assert m.value("citystream_faust_handoffs_total", path="inline") == 25


def test_undeclared_or_wrong_kind_metric_raises_key_error() -> None:
    m = Metrics()
    with pytest.raises(KeyError):
        m.inc("citystream_bogus_total")
    with pytest.raises(KeyError):
        m.inc("citystream_consumer_lag_records", topic="t")  # a gauge
    with pytest.raises(KeyError):
        m.set("citystream_records_total", 1.0, stage="s", source="x")  # a counter
    with pytest.raises(KeyError):
        m.observe("citystream_dedup_ratio", 0.1)  # a gauge
    with pytest.raises(KeyError):
        m.inc("citystream_records_total", stage="normalize")  # a label missing


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    m = Metrics()
    m.inc("citystream_rows_stored_total", 1_234_567_891, table="events")
    body, content_type = m.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(body.decode())}
    (sample,) = [s for s in families["citystream_rows_stored"].samples if s.name.endswith("_total")]
    assert sample.value == 1_234_567_891
