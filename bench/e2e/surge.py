"""The surge run (``e2e-surge``): the ordinary feed, then ten times as much on top of it
for a while, then the ordinary feed again, through one worker per role.

Records come from a lazily simulated run of typhoon days (a thread simulates ahead, a
bounded queue in between, so a 10-minute surge needs no list of millions of records) and
go out with the wall clock as their Kafka timestamp, at the rate of the plan's phase.
While they go, a sampler reads every second how many raw records the ``normalize`` role
has not committed yet (the backlog) and every worker's peak RSS (``VmHWM``).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.e2e.rounds import peak_rss_bytes
from streams.contracts.topics import RAW_TOPICS
from streams.runner import WorkerProcess
from streams.settings import Settings
from streams.simulator import SimRecord

__all__ = ["BacklogSampler", "SurgePlan", "send_plan"]

_CHUNK = 5_000  # records the simulating thread hands over at a time


@dataclass(frozen=True)
class SurgePlan:
    ordinary_rate: int  # raw records/s before and after
    factor: int  # the surge adds factor x ordinary_rate on top
    before_s: float
    surge_s: float
    after_s: float

    def due_by(self, t: float) -> int:
        """Records to have sent ``t`` seconds into the run."""
        surged = min(max(t - self.before_s, 0.0), self.surge_s)
        return int(self.ordinary_rate * (min(t, self.seconds) + self.factor * surged))

    @property
    def seconds(self) -> float:
        return self.before_s + self.surge_s + self.after_s

    @property
    def records(self) -> int:
        surge = self.ordinary_rate * self.factor * self.surge_s
        return int(self.ordinary_rate * self.seconds + surge)


def _ahead(records: Iterator[SimRecord], out: queue.Queue[list[SimRecord] | None]) -> None:
    chunk: list[SimRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == _CHUNK:
            out.put(chunk)
            chunk = []
    out.put(chunk or None)
    out.put(None)


async def _send(settings: Settings, records: Iterator[SimRecord], plan: SurgePlan) -> int:
    from aiokafka import AIOKafkaProducer

    topics = {s: settings.kafka.topic(t) for s, t in RAW_TOPICS.items()}
    ahead: queue.Queue[list[SimRecord] | None] = queue.Queue(maxsize=8)
    threading.Thread(target=_ahead, args=(records, ahead), daemon=True).start()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=2
    )
    await producer.start()
    loop = asyncio.get_running_loop()
    pending: list[SimRecord] = []
    sent = 0
    started = time.monotonic()
    try:
        while (now := time.monotonic()) - started < plan.seconds:
            due = plan.due_by(now - started)
            while sent < due:
                if not pending:
                    chunk = await loop.run_in_executor(None, ahead.get)
                    if chunk is None:
                        raise RuntimeError(f"the simulation ran out after {sent} records")
                    pending = chunk[::-1]
                r = pending.pop()
                stamp = int(time.time() * 1000)
                await producer.send(topics[r.source], r.value, key=r.key, timestamp_ms=stamp)
                sent += 1
            await asyncio.sleep(0.005)
        await producer.flush()
        return sent
    finally:
        await producer.stop()


def send_plan(settings: Settings, records: Iterator[SimRecord], plan: SurgePlan) -> int:
    """Send ``records`` at the plan's rates; returns how many went out."""
    return asyncio.run(_send(settings, records, plan))


@dataclass
class BacklogSampler:
    """Samples, every ``every_s``, the raw records the ``normalize`` group has not
    committed, in a thread of its own, until stopped."""

    settings: Settings
    group: str
    workers: dict[str, WorkerProcess]
    every_s: float = 1.0
    samples: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, backlog)
    peak_rss: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _failed: BaseException | None = None

    def __enter__(self) -> BacklogSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self._failed is not None:
            raise RuntimeError("the backlog sampler failed") from self._failed

    def _run(self) -> None:
        try:
            self._sample()
        except BaseException as exc:  # re-raised in the bench's thread by __exit__
            self._failed = exc

    def _sample(self) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

        options: dict[str, Any] = dict(self.settings.kafka.client_options())
        admin, consumer = KafkaAdminClient(**options), KafkaConsumer(**options)
        topics = [self.settings.kafka.topic(t) for t in RAW_TOPICS.values()]
        tps = [TopicPartition(t, p) for t in topics for p in range(self.settings.kafka.partitions)]
        try:
            while not self._stop.wait(self.every_s):
                ends = consumer.end_offsets(tps)
                done = admin.list_group_offsets(self.group).get(self.group, {})
                behind = sum(ends[tp] - (done[tp].offset if tp in done else 0) for tp in tps)
                self.samples.append((time.monotonic(), int(behind)))
                for role, worker in self.workers.items():
                    self.peak_rss[role] = peak_rss_bytes(worker)
        finally:
            admin.close()
            consumer.close()

    def peak(self, since: float = 0.0) -> int:
        return max((b for t, b in self.samples if t >= since), default=0)

    def drained_at(self, after: float, level: int) -> float | None:
        """The first sample after ``after`` with a backlog at or under ``level``."""
        return next((t for t, b in self.samples if t >= after and b <= level), None)
