"""The worker's Prometheus text exposition, parsed back line by line."""

from __future__ import annotations

import math
import re

import pytest

from streams.app.metrics import LATENCY_BUCKETS_S, Metrics

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _parse(text: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, dict[str, str], float]]]:
    """``(name -> (type, help), samples)``; fails on any line that is not valid exposition."""
    meta: dict[str, list[str]] = {}
    samples = []
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, help_text = line[7:].split(" ", 1)
            meta.setdefault(name, ["", ""])[1] = help_text
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert kind in ("counter", "gauge", "histogram")
            meta.setdefault(name, ["", ""])[0] = kind
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            body = m.group(3) or ""
            labels = dict(_LABEL.findall(body))
            assert ",".join(f'{k}="{v}"' for k, v in labels.items()) == body
            samples.append((m.group(1), labels, float(m.group(4))))
    return {k: (v[0], v[1]) for k, v in meta.items()}, samples


def _family(sample: str, meta: dict[str, tuple[str, str]]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample.removesuffix(suffix)
        if base != sample and meta.get(base, ("",))[0] == "histogram":
            return base
    return sample


def test_render_parses_as_prometheus_text() -> None:
    m = Metrics()
    m.inc("citystream_records_total", 3, stage="normalize", source="sensor")
    m.inc("citystream_records_total", stage="normalize", source="sensor")
    m.inc("citystream_records_total", 2, stage="normalize", source="hotline")
    m.inc("citystream_cases_opened_total", 5)
    m.set("citystream_consumer_lag", 12, topic="raw.sensor")
    m.set("citystream_consumer_lag", 7, topic="raw.sensor")
    observed = [0.0005, 0.003, 0.05, 0.05, 0.7, 20.0]
    for s in observed:
        m.observe("citystream_batch_seconds", s, stage="dedup")
    m.observe("citystream_batch_seconds", 0.2, stage="sink")

    meta, samples = _parse(m.render())
    assert all(kind and help_text for kind, help_text in meta.values())
    for name, labels, _ in samples:
        assert _family(name, meta) in meta, f"{name} has no HELP/TYPE"
        assert all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k) for k in labels)

    def value(name: str, **labels: str) -> float:
        hits = [v for n, lab, v in samples if n == name and lab == labels]
        assert len(hits) == 1, (name, labels, hits)
        return hits[0]

    assert meta["citystream_records_total"][0] == "counter"
    assert value("citystream_records_total", source="sensor", stage="normalize") == 4
    assert value("citystream_records_total", source="hotline", stage="normalize") == 2
    assert value("citystream_cases_opened_total") == 5
    assert value("citystream_consumer_lag", topic="raw.sensor") == 7
    assert m.value("citystream_records_total", stage="normalize", source="sensor") == 4

    buckets = [
        (lab["le"], v)
        for n, lab, v in samples
        if n == "citystream_batch_seconds_bucket" and lab.get("stage") == "dedup"
    ]
    assert [le for le, _ in buckets] == [f"{b:g}" for b in LATENCY_BUCKETS_S] + ["+Inf"]
    for (le, count), bound in zip(buckets, [*LATENCY_BUCKETS_S, math.inf], strict=True):
        assert count == sum(1 for s in observed if s <= bound), le
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    assert counts[-1] == value("citystream_batch_seconds_count", stage="dedup") == len(observed)
    assert value("citystream_batch_seconds_sum", stage="dedup") == pytest.approx(sum(observed))
    assert value("citystream_batch_seconds_count", stage="sink") == 1


def test_empty_registry_still_declares_every_metric() -> None:
    meta, samples = _parse(Metrics().render())
    assert samples == []
    assert "citystream_batch_seconds" in meta and len(meta) >= 10


def test_undeclared_or_wrong_kind_metric_raises_key_error() -> None:
    m = Metrics()
    with pytest.raises(KeyError):
        m.inc("citystream_bogus_total")
    with pytest.raises(KeyError):
        m.inc("citystream_consumer_lag")  # a gauge
    with pytest.raises(KeyError):
        m.set("citystream_records_total", 1.0)  # a counter
    with pytest.raises(KeyError):
        m.observe("citystream_dedup_ratio", 0.1)  # a gauge
