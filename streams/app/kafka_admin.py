"""Kafka administration for the shell: creating the topics, reading a topic to its end,
listing the consumer groups of an app id."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from streams.contracts.topics import ALL_TOPICS, topic_config
from streams.settings import Settings

__all__ = ["GroupProgress", "consumer_groups", "ensure_topics", "read_to_end"]

log = logging.getLogger(__name__)

# consumer group states (KIP-518) in which a group has no members
_MEMBERLESS = frozenset({"Empty", "Dead"})


def ensure_topics(settings: Settings, timeout_s: float = 60.0) -> list[str]:
    """Create every pipeline topic with ``settings.kafka.partitions`` partitions if missing.

    Returns the topics created. A topic that exists with another partition count is an
    error: tiles map to partitions by hash, so the count is part of the data layout.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    names = [settings.kafka.topic(t) for t in ALL_TOPICS]
    deadline = time.monotonic() + timeout_s
    admin = KafkaAdminClient(**settings.kafka.client_options(), client_id="citystream")
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            # a concurrent worker may create them first
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [
                        NewTopic(
                            settings.kafka.topic(t),
                            settings.kafka.partitions,
                            1,
                            topic_configs=topic_config(t),
                        )
                        for t in ALL_TOPICS
                        if settings.kafka.topic(t) in missing
                    ],
                    timeout_ms=30_000,
                )
        while time.monotonic() < deadline:
            described = admin.describe_topics(names)
            counts = {
                d.get("name", d.get("topic")): len(d["partitions"])
                for d in described
                if not d["error_code"] and all(_led(p) for p in d["partitions"])
            }
            if len(counts) == len(names):
                wrong = {t: c for t, c in counts.items() if c != settings.kafka.partitions}
                if wrong:
                    raise RuntimeError(
                        f"topics exist with a partition count other than "
                        f"CITYSTREAM_PARTITIONS={settings.kafka.partitions}: {wrong}"
                    )
                return missing
            time.sleep(0.2)
        raise TimeoutError(f"topics not ready after {timeout_s}s: {names}")
    finally:
        admin.close()


def _led(partition: Mapping[str, Any]) -> bool:
    """Whether a described partition has a leader: a topic just created has none for a
    moment, and a producer sending then retries on NotLeaderForPartition for as long (on a
    loaded machine, seconds: long enough for a worker to take a raw partition for idle
    and release the others' events without it)."""
    return not partition.get("error_code") and int(partition.get("leader_id", -1)) >= 0


def read_to_end(
    settings: Settings,
    topic: str,
    partitions: list[int] | None = None,
    idle_s: float = 5.0,
    start: Mapping[int, int] | None = None,
) -> Iterator[Any]:
    """Every record of ``topic`` (or of some of its partitions) from the beginning, or from
    the offsets in ``start`` (partition -> offset), to the end it had when the call started.
    Stops early only after ``idle_s`` without data.

    Blocking (kafka-python): from async code run it in an executor.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        **settings.kafka.client_options(),
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=64 * 1024 * 1024,
        fetch_max_bytes=128 * 1024 * 1024,
    )
    try:
        if partitions is None:
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            return
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        for tp in tps:
            if start and start.get(tp.partition):
                consumer.seek(tp, start[tp.partition])
        ends = consumer.end_offsets(tps)
        deadline = time.monotonic() + idle_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                yield from records
            if batch:
                deadline = time.monotonic() + idle_s
            elif time.monotonic() > deadline:
                raise TimeoutError(f"no data from {topic} for {idle_s}s before its end")
    finally:
        consumer.close()


def consumer_groups(settings: Settings, prefix: str) -> dict[str, bool]:
    """The consumer groups whose name starts with ``prefix``: name -> has live members.

    A group without members (``Empty``: every worker stopped, only its committed offsets
    left) is listed as False; a killed worker stays a member until its session times out.
    """
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka.client_options(), client_id="citystream")
    try:
        return {g: live for g, live in _group_states(admin).items() if g.startswith(prefix)}
    finally:
        admin.close()


def _group_states(admin: Any) -> dict[str, bool]:
    """Every consumer group the cluster knows: name -> has live members."""
    return {g["group_id"]: g["group_state"] not in _MEMBERLESS for g in admin.list_groups()}


class GroupProgress:
    """How far the live consumer groups running a role have committed on a topic, read
    with one admin client kept open between calls (for the process's life: it is polled
    until the worker exits). Blocking: call it from an executor."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._admin: Any = None

    def committed(self, groups: Callable[[str], bool], topic: str) -> dict[int, int] | None:
        """Per partition of ``topic``, the lowest offset committed by the live groups for
        which ``groups(name)`` is true (each group's next record to read); None when no
        such group is live."""
        from kafka import KafkaAdminClient

        if self._admin is None:
            self._admin = KafkaAdminClient(
                **self.settings.kafka.client_options(), client_id="citystream-progress"
            )
        live = [g for g, is_live in _group_states(self._admin).items() if is_live and groups(g)]
        if not live:
            return None
        lowest: dict[int, int] = {}
        for offsets in self._admin.list_group_offsets(live).values():
            for tp, meta in offsets.items():
                if tp.topic == topic and meta.offset >= 0:
                    lowest[tp.partition] = min(lowest.get(tp.partition, meta.offset), meta.offset)
        return lowest
