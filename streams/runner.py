"""Run the pipeline from Python: worker processes, feeding raw topics, reading outputs.

The demo, the integration tests and the end-to-end benchmark all drive the pipeline the
way an operator does: ``citystream worker`` processes with settings in the environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from streams.app.kafka_admin import read_to_end
from streams.contracts.clock import CLOCK_KEY, tick_value
from streams.contracts.columnar import decode_columns
from streams.contracts.topics import CASE_STATE, DEADLETTER, LINKS, RAW_FEEDS, RAW_TOPICS
from streams.settings import Settings

__all__ = [
    "ChildProcess",
    "LinkSet",
    "WorkerProcess",
    "free_port",
    "produce_records",
    "read_links",
    "read_topic",
    "remove_faust_dirs",
    "scrape_metric",
    "tick_clock",
    "wait_until",
]


def remove_faust_dirs(settings: Settings, app_prefix: str) -> None:
    """Delete the Faust folders of every worker group whose name starts with ``app_prefix``
    (tests and benchmarks make one app id per run; each role set is a group of it)."""
    from streams.app.factory import faust_home

    parent = faust_home(settings)
    if parent.is_dir():
        for path in parent.iterdir():
            if path.is_dir() and path.name.startswith(app_prefix):
                shutil.rmtree(path)


def free_port() -> int:
    """A TCP port free on this host right now (for a worker's web server in tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChildProcess:
    """A child process in a session of its own, with the log it writes to."""

    log_path: Path
    proc: subprocess.Popen[bytes] | None

    def spawn(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # kill and stop reach its children too
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit; the crash the pipeline must survive."""
        if self.proc is not None and self.alive:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM and wait: a graceful shutdown."""
        if self.proc is None:
            return None
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        return self.proc.returncode


@dataclass
class WorkerProcess(ChildProcess):
    """One ``citystream worker`` child process with its own web port and log file."""

    settings: Settings
    roles: str
    web_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> WorkerProcess:
        env = {**os.environ, **self.settings.replace(web_port=self.web_port).as_env()}
        self.spawn([sys.executable, "-m", "streams", "worker", "--roles", self.roles], env)
        return self


def scrape_metric(web_port: int, name: str, **labels: str) -> float:
    """One sample of a running worker's ``/metrics`` (0 when the series is absent), read
    with the client library's parser as Prometheus would read it."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def produce_records(
    settings: Settings, records: Iterable[tuple[str, bytes | None, bytes, int]]
) -> int:
    """Send ``(source, key, value, arrival_ms)`` records to the raw topics, in order; a
    ``source`` is a report source or a raw feed (``patrol_track``: ``raw.patrol_track``)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        **settings.kafka.client_options(),
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
        acks="all",
    )
    n = 0
    try:
        topics = {s: settings.kafka.topic(t) for s, t in {**RAW_TOPICS, **RAW_FEEDS}.items()}
        for source, key, value, arrival_ms in records:
            producer.send(topics[source], key=key, value=value, timestamp_ms=arrival_ms)
            n += 1
        producer.flush(120)
    finally:
        producer.close(30)
    return n


def tick_clock(settings: Settings, at_ms: int) -> None:
    """Tick the centre's clock at ``at_ms`` on every partition of ``case.state``
    (``CITYSTREAM_ESCALATION_CLOCK=feed``; streams/contracts/clock.py). Call it once the
    loop has answered everything fed up to that time."""
    from kafka import KafkaProducer

    value = tick_value(at_ms)
    producer = KafkaProducer(**settings.kafka.client_options(), acks="all")
    try:
        topic = settings.kafka.topic(CASE_STATE)
        for partition in range(settings.kafka.partitions):
            producer.send(topic, key=CLOCK_KEY, value=value, partition=partition)
        producer.flush(60)
    finally:
        producer.close(30)


def read_topic(settings: Settings, topic: str, timeout_s: float = 5.0) -> Iterator[Any]:
    """Every record of a topic, from the beginning to its current end."""
    return read_to_end(settings, topic, idle_s=timeout_s)


@dataclass
class LinkSet:
    """Event-to-case links read back from the ``links`` topic, keyed by event id."""

    case_of: dict[int, int] = field(default_factory=dict)
    source_ref: dict[int, str] = field(default_factory=dict)
    flags: dict[int, int] = field(default_factory=dict)  # fused flags as dedup linked them
    duplicates: int = 0  # the same event linked twice (redelivery), identical or not
    conflicts: int = 0  # the same event linked to two different cases

    @property
    def cases(self) -> set[int]:
        return set(self.case_of.values())


def read_links(settings: Settings) -> LinkSet:
    out = LinkSet()
    for record in read_topic(settings, settings.kafka.topic(LINKS)):
        _, _, cols = decode_columns(record.value, "links")
        for eid, cid, ref, flags in zip(
            cols["event_id"], cols["case_id"], cols["source_ref"], cols["flags"], strict=True
        ):
            old = out.case_of.get(eid)
            if old is not None:
                out.duplicates += 1
                out.conflicts += int(old != cid)
            out.case_of[eid] = cid
            out.source_ref[eid] = ref
            out.flags[eid] = int(flags)
    return out


def count_dead_letters(settings: Settings) -> dict[str, int]:
    """Distinct dead letters per reason.

    Dead letters are written at least once: a raw record redelivered after a crash is
    dead-lettered again, with the same origin (topic, partition, offset). Each origin
    counts once; letters without one (the dedup stage's) count by their content.
    """
    seen: set[tuple[object, ...]] = set()
    counts: dict[str, int] = {}
    for record in read_topic(settings, settings.kafka.topic(DEADLETTER)):
        letter = orjson.loads(record.value)
        reason = letter["reason"]
        if letter.get("offset") is not None:
            identity: tuple[object, ...] = (
                reason,
                letter["topic"],
                letter["partition"],
                letter["offset"],
            )
        else:
            identity = (reason, letter["source"], letter["original"])
        if identity not in seen:
            seen.add(identity)
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def wait_until(
    predicate: Callable[[], bool],
    timeout_s: float,
    interval_s: float = 1.0,
    on_wait: Callable[[], None] | None = None,
) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        if on_wait is not None:
            on_wait()
        time.sleep(interval_s)
    return predicate()
