"""Kafka plumbing of the end-to-end benchmarks: produce fast, tail outputs, clean up.

Why aiokafka and not kafka-python (which ``streams.runner`` uses): without the optional
``crc32c`` package kafka-python computes record-batch CRCs in pure Python, a few MB/s,
so producing or reading the ~100 MB of a fused city-day would measure kafka-python, not
the pipeline. aiokafka (Faust's own client) does that in C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.contracts.topics import MAX_MESSAGE_BYTES
from streams.settings import Settings

__all__ = [
    "Message",
    "OutputTail",
    "count_columnar_rows",
    "count_messages",
    "create_run_topics",
    "delete_topics",
    "produce",
    "produce_batched_async",
    "wait_healthy",
]

# (key, value, partition or None = by key, timestamp ms or None = now)
Message = tuple[bytes | None, bytes, int | None, int | None]

# encode_columns writes {"v":1,"kind":...,"n":N,...} with orjson (compact, keys in order)
_COLUMNAR_HEAD = re.compile(rb'^\{"v":1,"kind":"[a-z_.]+","n":(\d+),')


def count_columnar_rows(value: bytes) -> int:
    """Rows in a columnar batch (``streams.contracts.columnar``), read from its head only."""
    m = _COLUMNAR_HEAD.match(value[:80])
    if m is None:
        raise ValueError(f"not a columnar batch: {value[:80]!r}")
    return int(m.group(1))


def count_messages(value: bytes) -> int:
    """One row per message (the per-event peer's links, dead letters)."""
    return 1


def _producer(settings: Settings) -> object:
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        acks="all",
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=MAX_MESSAGE_BYTES,
    )


async def produce_async(settings: Settings, topic: str, messages: Sequence[Message]) -> float:
    """Send ``messages`` in order; returns the seconds it took (connect excluded)."""
    producer = _producer(settings)
    await producer.start()  # type: ignore[attr-defined]
    try:
        started = time.perf_counter()
        pending = []
        for key, value, partition, ts in messages:
            pending.append(
                await producer.send(  # type: ignore[attr-defined]
                    topic, value, key=key, partition=partition, timestamp_ms=ts
                )
            )
            if len(pending) >= 4096:  # bound the in-flight futures
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return time.perf_counter() - started
    finally:
        await producer.stop()  # type: ignore[attr-defined]


async def produce_batched_async(
    settings: Settings, topic: str, messages: Sequence[Message]
) -> float:
    """:func:`produce_async` through aiokafka's batch API (whole record batches, no future
    per message): the sender then outpaces the consumer it measures, on a busy machine
    too. Every message needs its partition. Returns the seconds it took (connect excluded)."""
    producer: Any = _producer(settings)
    await producer.start()
    try:
        started = time.perf_counter()
        pending: list[Any] = []
        batch, current = producer.create_batch(), None
        for key, value, partition, ts in messages:
            if partition is None:
                raise ValueError("produce_batched_async needs every message's partition")
            if partition != current and batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=current))
                batch = producer.create_batch()
            current = partition
            if batch.append(key=key, value=value, timestamp=ts) is None:  # full
                pending.append(await producer.send_batch(batch, topic, partition=current))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=ts) is None:
                    raise ValueError(f"a message of {len(value)} bytes does not fit a batch")
        if batch.record_count():
            pending.append(await producer.send_batch(batch, topic, partition=current))
        await asyncio.gather(*pending)
        return time.perf_counter() - started
    finally:
        await producer.stop()


def produce(settings: Settings, topic: str, messages: Sequence[Message]) -> float:
    """Blocking :func:`produce_async`."""
    return asyncio.run(produce_async(settings, topic, messages))


@dataclass
class OutputTail:
    """Counts the rows on output topics until a target, and the last record's timestamp.

    ``counters`` maps a topic to how many rows one of its messages carries. The end time
    of a run is the producer timestamp (CreateTime: the worker's wall clock at send) of
    the last record counted, so polling latency here does not lengthen the measurement.
    """

    settings: Settings
    counters: Mapping[str, Callable[[bytes], int]]
    rows: dict[str, int] = field(default_factory=dict)
    first_ms: int | None = None
    last_ms: int | None = None

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    async def run(self, target: int, timeout_s: float, alive: Callable[[], bool]) -> None:
        """Tail until ``total >= target``; TimeoutError or RuntimeError (worker died)."""
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            *self.counters,
            bootstrap_servers=self.settings.kafka.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=32 * 1024 * 1024,
            metadata_max_age_ms=1000,
        )
        await consumer.start()
        deadline = time.monotonic() + timeout_s
        try:
            while self.total < target:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.total} of {target} output rows after {timeout_s}s")
                if not alive():
                    raise RuntimeError(f"the worker died with {self.total} of {target} rows out")
                batches = await consumer.getmany(timeout_ms=100, max_records=100_000)
                for tp, records in batches.items():
                    count = self.counters[tp.topic]
                    for r in records:
                        self.rows[tp.topic] = self.rows.get(tp.topic, 0) + count(r.value)
                        self.first_ms = r.timestamp if self.first_ms is None else self.first_ms
                        self.last_ms = (
                            r.timestamp if self.last_ms is None else max(self.last_ms, r.timestamp)
                        )
        finally:
            await consumer.stop()


def wait_healthy(port: int, timeout_s: float, alive: Callable[[], bool]) -> None:
    """Wait until a worker's ``/health`` says ok (consumer up, not rebalancing)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the worker died while starting")
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r,
        ):
            last = json.loads(r.read()).get("status", "?")
            if last == "ok":
                return
        time.sleep(0.2)
    raise TimeoutError(f"worker on port {port} not healthy after {timeout_s}s (last: {last})")


# Faust's producer_max_request_size in streams.app.factory; the broker's default is 1 MB


def create_run_topics(settings: Settings, extra: Sequence[str] = ()) -> None:
    """Create the pipeline topics of a run, accepting messages up to 16 MiB.

    Why: the dedup agent sends one ``links``/``cases`` message per tile and release; in a
    catch-up one release holds tens of thousands of links, over the broker's default
    1 MB, and the broker refuses it (the agent only logs MessageSizeTooLargeError and the
    links are lost). The benchmark raises the topic limit so that it measures throughput;
    ``streams.contracts.topics.ensure_topics`` then checks the layout. ``extra``: more logical
    topics of the run (the peers' own), created the same way.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from streams.app.kafka_admin import ensure_topics
    from streams.contracts.topics import ALL_TOPICS, DEDUP_STATE

    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka.bootstrap_servers, client_id="bench-e2e"
    )
    try:
        big = {"retention.ms": "-1", "max.message.bytes": str(MAX_MESSAGE_BYTES)}
        admin.create_topics(
            [
                NewTopic(
                    settings.kafka.topic(t),
                    settings.kafka.partitions,
                    1,
                    topic_configs={**big, "cleanup.policy": "compact"} if t == DEDUP_STATE else big,
                )
                for t in (*ALL_TOPICS, *extra)
            ],
            timeout_ms=30_000,
        )
    finally:
        admin.close()
    ensure_topics(settings)


def delete_topics(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (the run's and Faust's own)."""
    from kafka import KafkaAdminClient

    if len(prefix) < 8:
        raise ValueError(f"refusing to delete topics by the short prefix {prefix!r}")
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka.bootstrap_servers, client_id="bench-e2e"
    )
    try:
        doomed = [t for t in admin.list_topics() if t.startswith(prefix)]
        if doomed:
            admin.delete_topics(doomed, timeout_ms=30_000)
        return doomed
    finally:
        admin.close()
