"""Role ``patrols``: terminal pings (``raw.patrol_track``) to patrol sessions and visits.

Per chunk of raw batches, track intake (streams/intake/tracks.py) accepts pings and
dead-letters bad ones (to ``deadletter``, as the normalizer does). Accepted pings go to the
:class:`~streams.patrols.SessionBook` of their raw partition (the feed is keyed by device:
a device's sessions live in one partition). Closed sessions are walked
(:class:`~streams.patrols.SessionWalker`) and sent to ``patrol.sessions`` and
``patrol.visits``, keyed by device.

Crash safety, like dedup's: the books are written to the compacted ``patrol.state``
topic, partition for partition, and read back when a partition is assigned. The order of
writes is what makes a restart lose and double nothing: a chunk's dead letters are on the
broker before its pings are written as applied (a redelivered batch is then dropped by its
raw offset), and a closed session's records are on the broker before the state forgets
it (a crash in between closes it again, with the same ids: the tables keep one row).

A session also closes when the partition's clock (its latest batch arrival) passes its last
ping + the session gap; a timer checks every second, so superseded sessions and those found
due after a restart close without waiting for the next batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from streams.app.kafka_admin import read_to_end
from streams.app.metrics import Metrics
from streams.contracts.topics import (
    DEADLETTER,
    PATROL_SESSIONS,
    PATROL_STATE,
    PATROL_TRACK,
    PATROL_VISITS,
)
from streams.contracts.tracks import FEED, TrackPoints
from streams.intake.tracks import TrackIntake, TrackResult
from streams.patrols import ClosedSession, SessionBook, SessionWalker, visit_rows
from streams.patrols.sessions import StateRecord
from streams.settings import Settings

__all__ = ["PatrolWorker", "Ping", "apply_pings", "judge_pings", "register", "restore_intake"]

log = logging.getLogger(__name__)
_RAW = {"key_serializer": "raw", "value_serializer": "raw"}


@dataclass(frozen=True)
class Ping:
    """One raw record of the track feed: where it was read and when it arrived."""

    partition: int
    offset: int
    value: bytes
    arrival_ms: int


def restore_intake(intake: TrackIntake, book: SessionBook) -> None:
    """A partition was loaded: the intake judges its next pings against what the
    partition applied (else a jump arriving first would be taken as a device's position)."""
    for device, points in book.accepted():
        intake.restore(device, points)


def judge_pings(
    intake: TrackIntake, books: Mapping[int, SessionBook], pings: Sequence[Ping]
) -> tuple[list[Ping], TrackResult]:
    """The pings their partition's book has not applied, and the intake's verdict on them.

    Kafka redelivers what was applied but not committed: its dead letters are on the
    broker and its pings in the book, and judging it again against the device's later
    pings would dead-letter good ones.
    """
    fresh = [p for p in pings if not books[p.partition].is_applied(p.offset)]
    result = intake.parse(
        [p.value for p in fresh],
        ingest_ms=[p.arrival_ms for p in fresh],
        origins=[(p.partition, p.offset) for p in fresh],
    )
    return fresh, result


def apply_pings(
    books: Mapping[int, SessionBook], fresh: Sequence[Ping], result: TrackResult
) -> dict[int, list[StateRecord]]:
    """Add the accepted points to their partitions' books (after the verdict's dead
    letters are on the broker); per partition, the state records to write."""
    written: dict[int, list[StateRecord]] = {}
    for p in sorted({ping.partition for ping in fresh}):
        mine = [ping for ping in fresh if ping.partition == p]
        written[p] = books[p].add(
            _of_partition(result.points, p),
            [ping.arrival_ms for ping in mine],
            last_seq=max(ping.offset for ping in mine) + 1,
        )
    return written


class PatrolWorker:
    """The per-process side of the agent: intake, the books of the assigned partitions,
    the walker and the output topics."""

    def __init__(self, app: Any, settings: Settings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.intake = TrackIntake.from_settings(settings)
        self.walker = SessionWalker.from_settings(settings)
        self.gap_ms = settings.patrol.session_gap_s * 1000
        self.books: dict[int, SessionBook] = {}
        self.raw_name = settings.kafka.topic(PATROL_TRACK)
        self.state_name = settings.kafka.topic(PATROL_STATE)
        self.state = app.topic(self.state_name, **_RAW)
        self.dead = app.topic(settings.kafka.topic(DEADLETTER), **_RAW)
        self.sessions = app.topic(settings.kafka.topic(PATROL_SESSIONS), **_RAW)
        self.visits = app.topic(settings.kafka.topic(PATROL_VISITS), **_RAW)
        # the agent and the timer both change books: one at a time
        self.lock = asyncio.Lock()

    def forget(self, partitions: set[int]) -> None:
        for p in partitions:
            self.books.pop(p, None)

    async def book(self, p: int) -> SessionBook:
        book = self.books.get(p)
        if book is None:
            loop = asyncio.get_running_loop()
            latest = await loop.run_in_executor(None, self._read_state, p)
            book = SessionBook.from_records(self.gap_ms, latest)
            log.info("patrols partition %d loaded: %d open points", p, book.open_points())
            restore_intake(self.intake, book)
            self.books[p] = book
        return book

    def _read_state(self, p: int) -> dict[bytes, bytes | None]:
        latest: dict[bytes, bytes | None] = {}
        for record in read_to_end(self.settings, self.state_name, [p], idle_s=30.0):
            latest[record.key] = record.value
        return latest

    async def handle(self, events: list[Any]) -> None:
        async with self.lock:
            for p in sorted({e.message.partition for e in events}):
                await self.book(p)
            pings = [
                Ping(m.partition, m.offset, m.value or b"", round(m.timestamp * 1000))
                for m in (e.message for e in events)
            ]
            fresh, result = judge_pings(self.intake, self.books, pings)
            if not fresh:
                return
            sent = []
            for letter in result.dead_letters:
                ping = fresh[letter.index]
                letter.topic = self.raw_name
                letter.partition, letter.offset = ping.partition, ping.offset
                sent.append(
                    await self.dead.send(
                        key=FEED.encode(),
                        value=letter.to_json(),
                        timestamp=ping.arrival_ms / 1000,  # the ping's: see normalize_agent
                        force=True,
                    )
                )
                self.metrics.inc("citystream_deadletters_total", reason=letter.reason.value)
            await asyncio.gather(*sent)  # before the state says these batches are applied
            self.metrics.inc("citystream_pings_total", len(result.points), stage="patrols")
            for p, records in apply_pings(self.books, fresh, result).items():
                await self._write_state(p, records)
                await self._close_due(p, self.books[p])

    async def close_idle(self) -> None:
        """The timer: close what is due in every loaded partition."""
        async with self.lock:
            for p, book in sorted(self.books.items()):
                await self._close_due(p, book)

    async def _close_due(self, p: int, book: SessionBook) -> None:
        for s in book.due():
            record = self.walker.walk(ClosedSession.of(s))
            key = s.device_id.encode()
            sent = [await self.sessions.send(key=key, value=orjson.dumps(record), force=True)]
            for row in visit_rows(record):
                sent.append(await self.visits.send(key=key, value=orjson.dumps(row), force=True))
            await asyncio.gather(*sent)  # the state forgets the session only after this
            await self._write_state(p, book.close(s))
            self.metrics.inc("citystream_patrol_sessions_total")
            self.metrics.inc("citystream_patrol_visits_total", len(record["visits"]))
        self.metrics.set(
            "citystream_patrol_open_points", float(book.open_points()), partition=str(p)
        )

    async def _write_state(self, p: int, records: list[StateRecord]) -> None:
        sent = [
            await self.state.send(key=key, value=value, partition=p, force=True)
            for key, value in records
        ]
        await asyncio.gather(*sent)


def _of_partition(points: TrackPoints, p: int) -> TrackPoints:
    mine = np.flatnonzero(points.points["origin_partition"] == p)
    return TrackPoints(points.points[mine], points.device_id[mine], points.inspector_id[mine])


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    worker = PatrolWorker(app, settings, metrics)
    raw_name = settings.kafka.topic(PATROL_TRACK)
    raw = app.topic(raw_name, allow_empty=True, **_RAW)

    async def on_revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        worker.forget({tp.partition for tp in revoked if tp.topic == raw_name})

    app.on_partitions_revoked.connect(on_revoked)

    async def patrols(stream: Any) -> None:
        async for events in stream.take_events(
            settings.pipeline.batch_max_events, within=settings.pipeline.batch_max_ms / 1000
        ):
            started = time.perf_counter()
            await worker.handle(events)
            metrics.inc("citystream_records_total", len(events), stage="patrols", source=FEED)
            metrics.observe(
                "citystream_batch_duration_seconds", time.perf_counter() - started, stage="patrols"
            )

    app.agent(raw, name="patrols")(patrols)
    app.timer(1.0, name="patrols-close-idle")(worker.close_idle)
