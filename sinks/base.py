"""The sink contract: per-partition batches, size/time flushing, backoff and backpressure.

Modelled on quix-streams' ``BatchingSink``. The consumer calls :meth:`Sink.add` for the
rows of each Kafka message, :meth:`Sink.poll` now and then (time-based flushes) and commits
only the offsets :meth:`Sink.committable` returns: those whose rows are in the store. A
batch is kept per (topic, partition) so rows of a partition are written in offset order.

When the store is down, a failed batch stays buffered and the sink backs off exponentially
(``retry_initial_s`` doubling up to ``retry_max_s``); later adds keep buffering until
``max_buffered_rows``, then :meth:`Sink.add` raises :class:`SinkBackpressure` *without*
taking the rows: the caller pauses the partition and offers them again after
``retry_after_s`` (or seeks back to the committable offset). Memory stays bounded and
nothing is lost, because uncommitted rows are either buffered or still in Kafka. When the
store returns, the buffered batches are written on the next add/poll/flush (catch-up).
Writers must be idempotent (the ClickHouse tables are): a batch whose write failed half-way
is written again whole.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Sink",
    "SinkBackpressure",
    "SinkBatch",
    "SinkError",
    "StoreUnavailable",
]

log = logging.getLogger(__name__)
TopicPartition = tuple[str, int]


class SinkError(RuntimeError):
    """A write failed for a reason retrying will not fix (schema mismatch, bad data)."""


class StoreUnavailable(ConnectionError):
    """Raised by :meth:`Sink.write` when the store cannot be reached; retried later."""


class SinkBackpressure(Exception):
    """The sink cannot take more rows now: pause consuming, try again after the delay."""

    def __init__(self, retry_after_s: float, message: str) -> None:
        super().__init__(f"{message} (retry after {retry_after_s:.2f}s)")
        self.retry_after_s = retry_after_s


@dataclass
class SinkBatch:
    """Rows of one (topic, partition) waiting to be written, in offset order."""

    topic: str
    partition: int
    started_at: float
    chunks: list[Any] = field(default_factory=list)
    rows: int = 0
    first_offset: int = -1
    last_offset: int = -1

    def append(self, offset: int, chunk: Any, rows: int) -> None:
        if self.first_offset < 0:
            self.first_offset = offset
        self.last_offset = max(self.last_offset, offset)
        self.chunks.append(chunk)
        self.rows += rows


class Sink(ABC):
    """Batches rows per partition and writes them through :meth:`write`."""

    def __init__(
        self,
        *,
        batch_rows: int,
        batch_ms: int,
        max_buffered_rows: int,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_rows < 1 or batch_ms < 0 or max_buffered_rows < batch_rows:
            raise ValueError(
                f"need batch_rows >= 1, batch_ms >= 0 and max_buffered_rows >= batch_rows, "
                f"got {batch_rows}, {batch_ms}, {max_buffered_rows}"
            )
        self.batch_rows = batch_rows
        self.batch_s = batch_ms / 1000.0
        self.max_buffered_rows = max_buffered_rows
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._clock = clock
        self._batches: dict[TopicPartition, SinkBatch] = {}
        self._committable: dict[TopicPartition, int] = {}
        self._backoff_s = 0.0
        self._retry_at = 0.0
        self.rows_written = 0

    # -- to implement -----------------------------------------------------------------------
    @abstractmethod
    def prepare(self, topic: str, data: Any) -> tuple[Any, int]:
        """Validate and convert one message's rows; returns (chunk, number of rows)."""

    @abstractmethod
    def write(self, batch: SinkBatch) -> None:
        """Write a whole batch; raise :class:`StoreUnavailable` if the store is down."""

    # -- public API -------------------------------------------------------------------------
    @property
    def buffered_rows(self) -> int:
        return sum(b.rows for b in self._batches.values())

    def committable(self) -> dict[TopicPartition, int]:
        """Per (topic, partition): the next offset to commit (all rows before it are stored)."""
        return dict(self._committable)

    def add(self, topic: str, partition: int, offset: int, data: Any) -> None:
        """Buffer the rows of one message; flushes its batch when it is full.

        Raises :class:`SinkBackpressure` (rows NOT taken) when the buffer is full and the
        store cannot take the buffered rows now.
        """
        chunk, rows = self.prepare(topic, data)
        buffered = self.buffered_rows
        if buffered and buffered + rows > self.max_buffered_rows:
            self._write_ready(lambda b: True)
            if self.buffered_rows and self.buffered_rows + rows > self.max_buffered_rows:
                raise SinkBackpressure(
                    self.retry_after_s(),
                    f"sink buffer full ({self.buffered_rows} rows) and the store is unavailable",
                )
        key = (topic, partition)
        batch = self._batches.get(key)
        if batch is None:
            batch = self._batches[key] = SinkBatch(topic, partition, self._clock())
        batch.append(offset, chunk, rows)
        if batch.rows >= self.batch_rows:
            self._write_ready(lambda b: b is batch)

    def poll(self) -> None:
        """Write the batches that are due (full or older than ``batch_ms``)."""
        self._write_ready(self._is_due)

    def flush(self) -> None:
        """Write every buffered batch now; :class:`SinkBackpressure` if some remain."""
        self._write_ready(lambda b: True)
        if self._batches:
            raise SinkBackpressure(
                self.retry_after_s(),
                f"{self.buffered_rows} rows not written: the store is unavailable",
            )

    def drain(self, timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Flush until everything is written, waiting out backoffs up to ``timeout_s``."""
        deadline = self._clock() + timeout_s
        while True:
            try:
                self.flush()
                return
            except SinkBackpressure as exc:
                if self._clock() + exc.retry_after_s > deadline:
                    raise
                sleep(max(exc.retry_after_s, 0.001))

    def retry_after_s(self) -> float:
        """Seconds until the next write attempt is allowed (0 when not backing off)."""
        return max(0.0, self._retry_at - self._clock())

    # -- internals --------------------------------------------------------------------------
    def _is_due(self, batch: SinkBatch) -> bool:
        return batch.rows >= self.batch_rows or self._clock() - batch.started_at >= self.batch_s

    def _write_ready(self, selected: Callable[[SinkBatch], bool]) -> None:
        if self.retry_after_s() > 0:
            return
        for key, batch in list(self._batches.items()):
            if not selected(batch):
                continue
            try:
                self.write(batch)
            except StoreUnavailable as exc:
                self._backoff_s = min(
                    self.retry_max_s, max(self.retry_initial_s, self._backoff_s * 2)
                )
                self._retry_at = self._clock() + self._backoff_s
                log.warning(
                    "store unavailable (%s); %d rows buffered, retry in %.2fs",
                    exc,
                    self.buffered_rows,
                    self._backoff_s,
                )
                return
            del self._batches[key]
            self._committable[key] = max(self._committable.get(key, 0), batch.last_offset + 1)
            self.rows_written += batch.rows
            self._backoff_s = 0.0
            self._retry_at = 0.0
