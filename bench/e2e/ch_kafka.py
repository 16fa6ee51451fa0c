"""ClickHouse's own Kafka table engine on a raw topic: the peer of the ingest path.

A ``Kafka`` engine table reads the topic (``JSONEachRow``) and a materialized view moves
each block into a MergeTree table. Checked here against ClickHouse 18.16 (Debian's build,
linked to the system librdkafka 2.0.2) and the Kafka 4.1 broker: it joins the group and
consumes. A new group starts at the *end* of the topic (librdkafka's default
``auto.offset.reset``, not settable per table in 18.16), so the group's offsets are
committed at 0 before the table is created.

Raw sensor alarms carry a nested ``readings`` object, which 18.16's JSONEachRow cannot
skip or store without ``input_format_skip_unknown_fields`` in the server profile; the
ingest comparison therefore uses single alarms without ``readings`` (the normalizer
accepts them too), one message per alarm, on both sides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bench.e2e.kafka_io import Message, produce_batched_async
from streams.settings import Settings
from streams.simulator import SimRecord

__all__ = [
    "ALARM_COLUMNS",
    "IngestTiming",
    "commit_group_at_start",
    "kafka_engine_ddl",
    "plain_alarms",
    "scalar",
    "timed_ingest",
]

ALARM_COLUMNS = (
    ("alarm_id", "String"),
    ("device_id", "String"),
    ("device_type", "String"),
    ("alarm_type", "String"),
    ("lat", "Float64"),
    ("lon", "Float64"),
    ("ts", "Int64"),
)


def plain_alarms(records: Sequence[SimRecord], n: int) -> list[Message]:
    """Up to ``n`` good single alarms (gateway batches unpacked, ``readings`` dropped),
    with the record's simulated arrival as their Kafka timestamp."""
    names = [name for name, _ in ALARM_COLUMNS]
    out: list[Message] = []
    for r in records:
        if r.source != "sensor" or any(t.expected_reason for t in r.truth):
            continue
        doc = orjson.loads(r.value)
        for alarm in doc.get("alarms", [doc]):
            if all(k in alarm for k in names):
                value = orjson.dumps({k: alarm[k] for k in names})
                # stamped with the simulated arrival, as a replay of the day would be
                out.append((alarm["device_id"].encode(), value, 0, r.arrival_ms))
            if len(out) == n:
                return out
    return out


def kafka_engine_ddl(db: str, bootstrap: str, topic: str, group: str) -> list[str]:
    cols = ", ".join(f"{name} {kind}" for name, kind in ALARM_COLUMNS)
    return [
        f"CREATE TABLE {db}.alarms ({cols}) ENGINE = MergeTree ORDER BY alarm_id",
        f"CREATE TABLE {db}.alarms_queue ({cols}) "
        f"ENGINE = Kafka('{bootstrap}', '{topic}', '{group}', 'JSONEachRow')",
        f"CREATE MATERIALIZED VIEW {db}.alarms_mv TO {db}.alarms "
        f"AS SELECT * FROM {db}.alarms_queue",
    ]


def commit_group_at_start(settings: Settings, topic: str, group: str) -> None:
    """Commit offset 0 on every partition of ``topic`` for ``group`` (see module doc)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise RuntimeError(f"topic {topic} has no partitions")
        consumer.commit(
            {TopicPartition(topic, p): OffsetAndMetadata(0, "", -1) for p in sorted(parts)}
        )
    finally:
        consumer.close()


@dataclass(frozen=True)
class IngestTiming:
    rows: int
    seconds: float  # first message sent -> the poll that saw every row
    produce_seconds: float


def timed_ingest(
    settings: Settings,
    topic: str,
    messages: Sequence[Message],
    count: Callable[[], int],
    *,
    target: int,
    timeout_s: float,
    alive: Callable[[], bool] = lambda: True,
) -> IngestTiming:
    """Send ``messages`` and poll ``count()`` (rows stored) every 0.1 s until ``target``."""

    async def ingest() -> IngestTiming:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        producing = asyncio.create_task(produce_batched_async(settings, topic, messages))
        rows = 0
        try:
            while rows < target:
                if time.perf_counter() - started > timeout_s:
                    raise TimeoutError(f"{rows} of {target} rows stored after {timeout_s}s")
                if not alive():
                    raise RuntimeError(f"the consumer died with {rows} of {target} rows stored")
                if producing.done() and producing.exception() is not None:
                    break  # the sender failed: its error, at once, not a timeout later
                await asyncio.sleep(0.1)
                rows = await loop.run_in_executor(None, count)
            seconds = time.perf_counter() - started
        finally:
            produce_s = await producing
        return IngestTiming(rows, seconds, produce_s)

    return asyncio.run(ingest())


def scalar(client: Any, sql: str) -> int:
    return int(client.execute(sql)[0][0])
