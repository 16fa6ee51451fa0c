"""A running worker's ``/metrics``, read as Prometheus reads it (the client's parser)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.runner import ChildProcess, free_port, produce_records, scrape_metric, wait_until
from streams.settings import Settings
from tests.integration.pipeline_runs import run_settings

pytestmark = pytest.mark.integration

BIG = 1_234_567_891_234  # past a float's six significant digits (the old `{v:g}`)
ODD = 'quote " backslash \\ newline \n end'
# The worker as `citystream worker` runs it, with two values no real input makes (a count
# of a trillion rows, a label of quotes and backslashes) put into its metrics at start.
SEEDED_WORKER = f"""
import sys
import streams.app.factory as factory

_create = factory.create_app

def create_app(settings, roles):
    app = _create(settings, roles)
    app.metrics.inc("citystream_rows_stored_total", {BIG}, table="events")
    app.metrics.inc("citystream_deadletters_total", 2, reason={ODD!r})
    return app

factory.create_app = create_app
from streams.cli import main
sys.exit(main(sys.argv[1:]))
"""


class SeededWorker(ChildProcess):
    def __init__(self, settings: Settings, web_port: int, log_path: Path) -> None:
        self.settings, self.web_port, self.log_path, self.proc = settings, web_port, log_path, None

    def start(self) -> SeededWorker:
        import os

        env = {**os.environ, **self.settings.replace(web_port=self.web_port).as_env()}
        self.spawn([sys.executable, "-c", SEEDED_WORKER, "worker", "--roles", "normalize"], env)
        return self


def _up(port: int, group: str) -> bool:
    try:
        return scrape_metric(port, "citystream_worker_info", group=group) == 1
    except OSError:  # the worker's web server is not up yet
        return False


def test_metrics_of_a_running_worker_parse_with_full_precision(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    s = run_settings(settings, topic_name)
    group = f"{s.worker.app_id}.normalize"
    port = free_port()
    worker = SeededWorker(s, port, tmp_path / "worker.log").start()
    try:
        assert wait_until(lambda: _up(port, group), 120, 0.5), worker.log_path.read_text()[-3000:]
        now_ms = int(time.time() * 1000)
        produce_records(s, [("sensor", None, b"{not json", now_ms) for _ in range(3)])
        consumed = lambda: scrape_metric(  # noqa: E731
            port, "citystream_records_total", stage="normalize", source="sensor"
        )
        assert wait_until(lambda: consumed() == 3, 60, 0.5), worker.log_path.read_text()[-3000:]

        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            content_type = r.headers["Content-Type"]
            families = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    finally:
        worker.stop()
    assert content_type.startswith("text/plain; version=")

    def value(family: str, name: str, **labels: str) -> float:
        hits = [x.value for x in families[family].samples if x.name == name and x.labels == labels]
        assert len(hits) == 1, (name, labels, families[family].samples)
        return hits[0]

    stored = value("citystream_rows_stored", "citystream_rows_stored_total", table="events")
    assert stored == BIG
    assert value("citystream_deadletters", "citystream_deadletters_total", reason=ODD) == 2
    bad = [x for x in families["citystream_deadletters"].samples if x.labels["reason"] != ODD]
    assert sum(x.value for x in bad if x.name.endswith("_total")) == 3  # the three bad reports
    assert families["citystream_records"].type == "counter"
    assert families["citystream_batch_duration_seconds"].type == "histogram"
    assert families["process_cpu_seconds"].type == "counter"
    assert value("process_resident_memory_bytes", "process_resident_memory_bytes") > 0
    assert value("faust_rebalances", "faust_rebalances_total") >= 1
    received = families["faust_messages_received"].samples
    assert any("raw.sensor" in x.labels["topic"] and x.value >= 3 for x in received), received
