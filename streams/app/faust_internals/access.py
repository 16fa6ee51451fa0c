"""Faust's tables and consumer state read or changed from outside: table writes whose
changelog record can be awaited, partitions paused as back-pressure, read and committed
offsets."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = [
    "committed_offset",
    "hold_partitions",
    "last_poll_ms",
    "last_read_offset",
    "write_through",
]


def write_through(table: Any, partition: int, key: Any, value: Any) -> asyncio.Future:
    """Set ``key`` of a Faust table to ``value`` (delete it for None) and return the future
    of its changelog record, acknowledged once the broker has it.

    ``table[key] = value`` sends the same record but drops the future, so nothing can
    wait for it: a record processed after the input offset commits could be missing from
    the changelog a restarted worker recovers. ``partition``: the changelog partition, the
    one of the input record being processed (as Faust's own writes)."""
    if value is None:
        future = table.send_changelog(partition, key, None, value_serializer="raw")
        table.data.pop(key, None)
    else:
        future = table.send_changelog(partition, key, value)
        table.data[key] = value
    return future


def hold_partitions(app: Any, wanted: set[tuple[str, int]]) -> int:
    """Pause fetching exactly the ``(topic, partition)``s of ``wanted`` this worker is
    assigned (the others it holds resume); returns how many are held.

    Faust resumes every partition at the end of a rebalance and pauses them all during
    one: nothing is changed then, and the pauses are applied again at each call."""
    consumer = app.consumer
    if consumer is None or app.rebalancing:
        return len(app.held)
    assigned = {(tp.topic, tp.partition): tp for tp in consumer.assignment()}
    hold = wanted & set(assigned)
    if hold:
        consumer.pause_partitions([assigned[k] for k in hold])
    release = [assigned[k] for k in app.held - hold if k in assigned]
    if release:
        consumer.resume_partitions(release)
    app.held = frozenset(hold)
    return len(hold)


def last_read_offset(consumer: Any, tp: Any) -> int | None:
    """Offset of the last message the consumer read from ``tp`` (None: none yet)."""
    value = consumer._read_offset[tp]
    return None if value is None else int(value)


def last_poll_ms(consumer: Any, tp: Any) -> int | None:
    """When (epoch ms, this host's clock) the consumer last had a fetch response for
    ``tp``, which set its high water mark (None: none yet). Read before the high water
    mark: aiokafka sets the mark first, so the mark read after is at least that new."""
    value = consumer._thread._ensure_consumer().last_poll_timestamp(tp)
    return None if value is None else int(value)


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The consumer's last committed offset of ``tp`` (None: never committed)."""
    value = consumer._committed_offset[tp]
    return None if value is None else int(value)
