"""A 311 export through the live pipeline: its rows as Open311 requests on ``raw.hotline``
(``citystream import``; docs/onboarding.md).

Times: a row's ``requested_datetime`` is its event time and, as the Kafka timestamp, its
arrival time too: the 311 platform received the request when it was made, so the
normalizer judges staleness and lateness against the export's own times, never today's.
A row whose time does not read arrives at the import's clock (the time of the row before
it in arrival order) and is dead-lettered ``bad_time`` by the normalizer, as any bad row
is dead-lettered with its reason: the import itself drops nothing.

Order: rows are produced sorted by arrival (then file, then row), the order dedup's
watermarks expect, so a backfill into an idle pipeline gives the cases
``citystream replay`` gives for the same files.

Resuming: each record carries a header ``citystream-import: <import id>:<seq>``; after
every chunk the producer is flushed and a checkpoint (records acknowledged, the topic's end
offsets) written. A restarted import with the same files, mapping and topic reads the
topic from the checkpoint's offsets, skips every record of its own it finds there, and
sends the rest: no record is sent twice, however the first run was stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.contracts.topics import RAW_TOPICS, default_partition
from streams.intake.adapters.csv311 import Csv311Mapping, read_csv311
from streams.settings import Settings

__all__ = ["HEADER", "ImportPlan", "Importer", "plan_import"]

HEADER = "citystream-import"
SOURCE = "hotline"
_CHUNK = 20_000  # records per flush + checkpoint


@dataclass(frozen=True)
class ImportPlan:
    """Every row of the export, in the order it is produced."""

    import_id: str
    keys: list[bytes | None]
    values: list[bytes]
    arrival_ms: list[int]
    unread_times: int  # rows whose time did not read (they arrive at the import's clock)
    absent: tuple[str, ...]  # optional fields the export has no column for

    def __len__(self) -> int:
        return len(self.values)

    def span_ms(self) -> tuple[int, int]:
        return (min(self.arrival_ms), max(self.arrival_ms)) if self.arrival_ms else (0, 0)


def _fingerprint(paths: list[Path], mapping: Csv311Mapping, topic: str) -> str:
    digest = hashlib.sha256(topic.encode())
    digest.update(mapping.path.read_bytes() if mapping.path else mapping.name.encode())
    for path in paths:
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:20]


def plan_import(paths: list[Path], mapping: Csv311Mapping, topic: str) -> ImportPlan:
    """Read every file (a bad header raises ``Csv311Error`` before anything is sent)."""
    arrival: list[int] = []
    keys: list[bytes | None] = []
    values: list[bytes] = []
    unread: list[int] = []  # rows whose time did not read
    absent: set[str] = set()
    for path in paths:
        absent |= set(mapping.resolve(_header(path), path).absent)
        clock = -1  # the latest time read in this file so far (-1: none yet)
        for rec in read_csv311(path, mapping):
            t = rec.event_ms
            if t is None:
                unread.append(len(arrival))
                t = clock
            elif t > clock:
                clock = t
            arrival.append(t)
            keys.append(rec.ref.encode() if rec.ref else None)  # raw.hotline's key
            values.append(rec.value)
    known = [t for t in arrival if t >= 0]
    first = min(known) if known else 0  # no time read at all: every row is a bad_time
    for i in unread:
        if arrival[i] < 0:
            arrival[i] = first
    # stable: rows of equal arrival keep their (file, row) order
    order = sorted(range(len(arrival)), key=arrival.__getitem__)
    return ImportPlan(
        _fingerprint(paths, mapping, topic),
        [keys[i] for i in order],
        [values[i] for i in order],
        [arrival[i] for i in order],
        len(unread),
        tuple(sorted(absent)),
    )


def _header(path: Path) -> list[str]:
    import csv

    with path.open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


class Importer:
    """Produces a plan to ``raw.hotline``, resumably (see the module docstring)."""

    def __init__(self, settings: Settings, plan: ImportPlan, state_dir: Path) -> None:
        self.settings = settings
        self.plan = plan
        self.topic = settings.kafka.topic(RAW_TOPICS[SOURCE])
        self.checkpoint = state_dir / f"{plan.import_id}.json"
        self.skipped = 0  # records found in the topic from an earlier, interrupted run

    def _load_checkpoint(self) -> tuple[int, dict[int, int]]:
        if not self.checkpoint.is_file():
            return 0, {}
        state = orjson.loads(self.checkpoint.read_bytes())
        return int(state["acked"]), {int(p): int(o) for p, o in state["offsets"].items()}

    def _save_checkpoint(self, acked: int, offsets: dict[int, int]) -> None:
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        state = {"import_id": self.plan.import_id, "topic": self.topic, "total": len(self.plan),
                 "acked": acked, "offsets": {str(p): o for p, o in offsets.items()}}  # fmt: skip
        tmp = self.checkpoint.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(state))
        os.replace(tmp, self.checkpoint)  # a crash leaves the old checkpoint or the new one

    def _already_sent(self, acked: int, offsets: dict[int, int]) -> set[int]:
        """Sequence numbers >= ``acked`` of this import already in the topic."""
        from streams.app.kafka_admin import read_to_end

        mine = f"{self.plan.import_id}:".encode()
        found: set[int] = set()
        for record in read_to_end(self.settings, self.topic, start=offsets, idle_s=5.0):
            for name, value in record.headers or ():
                if name == HEADER and value.startswith(mine):
                    seq = int(value[len(mine) :])
                    if seq >= acked:
                        found.add(seq)
        return found

    def _end_offsets(self, consumer: Any) -> dict[int, int]:
        from kafka import TopicPartition

        parts = consumer.partitions_for_topic(self.topic) or set()
        ends = consumer.end_offsets([TopicPartition(self.topic, p) for p in parts])
        return {tp.partition: off for tp, off in ends.items()}

    def run(self, on_progress: Callable[[int], None] = lambda _n: None) -> int:
        """Send what the topic does not hold yet; returns the number of records sent."""
        from kafka import KafkaConsumer

        from streams.app.kafka_admin import ensure_topics

        ensure_topics(self.settings)  # as a worker does at its start: whichever comes first
        consumer = KafkaConsumer(**self.settings.kafka.client_options())
        try:
            if not self.checkpoint.is_file():
                # before the first send: a run stopped before its first chunk is flushed
                # must still know where to look for what it sent
                self._save_checkpoint(0, self._end_offsets(consumer))
            acked, offsets = self._load_checkpoint()
            done = self._already_sent(acked, offsets)
            self.skipped = acked + len(done)
            return self._send_all(consumer, acked, done, on_progress)
        finally:
            consumer.close()

    def _send_all(
        self, consumer: Any, acked: int, done: set[int], on_progress: Callable[[int], None]
    ) -> int:
        return asyncio.run(self._send_async(consumer, acked, done, on_progress))

    async def _send_async(
        self, consumer: Any, acked: int, done: set[int], on_progress: Callable[[int], None]
    ) -> int:
        # aiokafka's record batches are built in C: kafka-python builds each record in
        # Python and sends ~15 k records/s on a busy 2-core machine, aiokafka's >200 k
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            **self.settings.kafka.aiokafka_options(),
            acks="all",
            linger_ms=50,
            max_batch_size=1024 * 1024,
            max_request_size=max(2 * 1024 * 1024, 4 * self.settings.pipeline.max_payload_bytes),
            client_id="citystream-import",
        )
        await producer.start()
        try:
            partitions = sorted(await producer.partitions_for(self.topic))
            sent = 0
            for start, stop in _chunks(acked, len(self.plan)):
                batches = _Batches(producer, self.topic, partitions)
                prefix = f"{self.plan.import_id}:"
                for seq in range(start, stop):
                    if seq not in done:
                        full = batches.add(seq, self.plan, f"{prefix}{seq}")
                        if full is not None:
                            await batches.send(full)
                        sent += 1
                await batches.flush()
                self._save_checkpoint(stop, self._end_offsets(consumer))
                on_progress(stop)
            return sent
        finally:
            await producer.stop()


class _Batches:
    """One open record batch per partition; a full one is sent and a new one begun. The
    partition of a key is the default partitioner's (murmur2, as the Java client and
    kafka-python choose it), so a request keeps the partition any other producer gives it."""

    def __init__(self, producer: Any, topic: str, partitions: list[int]) -> None:
        self.producer, self.topic, self.partitions = producer, topic, partitions
        self.open: dict[int, Any] = {}
        self.futures: list[Any] = []

    def _partition(self, key: bytes | None, seq: int) -> int:
        parts = self.partitions
        if key is None:
            return parts[seq % len(parts)]
        return parts[default_partition(key, len(parts))]

    def add(self, seq: int, plan: ImportPlan, mark: str) -> tuple[int, Any] | None:
        """Append record ``seq``; a batch it found full is returned, to be sent (by
        :meth:`send`: a coroutine per record would cost more than the record)."""
        key, value, ts = plan.keys[seq], plan.values[seq], plan.arrival_ms[seq]
        headers = [(HEADER, mark.encode())]
        part = self._partition(key, seq)
        batch = self.open.get(part)
        if batch is None:
            batch = self.open[part] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=ts, headers=headers) is not None:
            return None
        full, batch = batch, self.producer.create_batch()
        self.open[part] = batch
        if batch.append(key=key, value=value, timestamp=ts, headers=headers) is None:
            raise ValueError(f"record {seq} is larger than a batch may be")
        return part, full

    async def send(self, full: tuple[int, Any]) -> None:
        await self._send(*full)

    async def _send(self, part: int, batch: Any) -> None:
        batch.close()
        self.futures.append(await self.producer.send_batch(batch, self.topic, partition=part))

    async def flush(self) -> None:
        for part, batch in self.open.items():
            await self._send(part, batch)
        self.open.clear()
        await asyncio.gather(*self.futures)  # raises if the broker refused a batch
        self.futures.clear()


def _chunks(start: int, total: int) -> Iterator[tuple[int, int]]:
    for lo in range(start, total, _CHUNK):
        yield lo, min(total, lo + _CHUNK)


class Progress:
    """A progress bar with records/s on stderr (a line every few seconds when not a tty)."""

    def __init__(self, total: int, stream: Any, every_s: float = 0.5) -> None:
        self.total, self.stream = max(1, total), stream
        self.tty = stream.isatty()
        self.every = every_s if self.tty else 5.0
        self.t0 = self.last = time.monotonic()

    def __call__(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        share = min(1.0, done / self.total)
        bar = "#" * round(share * 30)
        rate = done / max(now - self.t0, 1e-9)
        line = f"import [{bar:<30}] {done:,}/{self.total:,} rec  {rate:,.0f} rec/s"
        end = "\r" if self.tty and not force else "\n"
        self.stream.write(line + end)
        self.stream.flush()
