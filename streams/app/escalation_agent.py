"""Role ``escalation``: 催办, 督办 and up the ladder for cases running out of time.

``case.state`` (keyed by case id) feeds changelog-backed Faust tables of the cases this
worker's partitions hold: status, dispatch time, deadline, hold and the levels already
raised, and what is remembered of dropped cases (:mod:`streams.cases.escalation`). Each
case record raises what its case reached before the transition; each clock tick in the
partition (:mod:`streams.contracts.clock`) what the partition's open cases reached by its
time. So the escalations follow from the partition's records alone. With the wall clock
(``CITYSTREAM_ESCALATION_CLOCK=wall``) the workers write the ticks themselves, to every
partition, every ``CITYSTREAM_ESCALATION_TICK_S``; a tick comes back through the stream
like any record. Each escalation goes to ``case.escalations``, keyed by case id, into the
partition of the ``case.state`` record that raised it.

Each record is applied once, whatever the restarts. Faust redelivers the records after the
last committed input offset, while the tables a restarted worker recovers may already hold
some of them, even half of one (a record can change many cases). So every record that
changes anything writes first a journal of its partition (the input offset, what it
writes to the tables and the output offset after its escalations), then the tables, and is
acknowledged only once the broker has all of them:

* a redelivered record at or below the journal's offset is skipped;
* the first record of a partition after an assignment writes the journal's changes again
  (a crash may have cut them short) and reads the escalations on the partition of
  ``case.escalations`` after the journal's output offset: those of the one record that
  was sending when the worker died. Computed again, they are not sent again.

So the topic holds each escalation once, and the escalations are those of the ladder run
once over each partition's records (the integration test's reference).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from streams.app.faust_internals import write_through
from streams.app.kafka_admin import read_to_end
from streams.app.metrics import Metrics
from streams.cases import escalation as ladder_core
from streams.cases.escalation import Change, Ladder
from streams.contracts.clock import CLOCK_KEY, is_tick, tick_time, tick_value
from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason
from streams.contracts.topics import CASE_STATE, DEADLETTER, ESCALATIONS
from streams.settings import Settings

__all__ = ["EscalationStep", "Journal", "register", "unsent"]

log = logging.getLogger(__name__)

Entry = dict[str, Any]
# how long reading back a partition's last escalations may go without data before its end
_READ_BACK_IDLE_S = 30.0


@dataclass(frozen=True)
class EscalationStep:
    """Pure part of the agent: one message against the entries of its partition."""

    ladder: Ladder
    horizon_ms: int  # how long a closed case's entry outlives its last transition

    @classmethod
    def from_settings(cls, settings: Settings) -> EscalationStep:
        horizon = settings.pipeline.redelivery_horizon_s * 1000
        return cls(Ladder.from_settings(settings), horizon)

    def record(
        self,
        entries: dict[bytes, Entry],
        key: bytes,
        raw: bytes,
        partition: int,
        remembered: Mapping[bytes, Entry] | None = None,
    ) -> tuple[list[Change], tuple[Reason, str] | None]:
        """``(changes, None)``, or ``([], (reason, message))`` for a record that is neither
        a case row nor a clock tick (it goes to the dead letters; the tables stay as they
        are). ``entries``: those of ``partition``; the entries made here carry it.
        ``remembered``: what is kept of the dropped cases (looked up for the record's own
        case only)."""
        try:
            if is_tick(key):
                now = tick_time(raw)
                changes = ladder_core.on_clock(self.ladder, entries, now, self.horizon_ms)
                return [_in_partition(c, partition) for c in changes], None
            value = orjson.loads(raw)
            if not isinstance(value, dict):
                return [], (Reason.NOT_AN_OBJECT, "case.state value is not an object")
            changes = ladder_core.on_record(self.ladder, entries, key, value, remembered)
        except orjson.JSONDecodeError as exc:
            return [], (Reason.MALFORMED_JSON, str(exc))
        except KeyError as exc:
            return [], (Reason.MISSING_FIELD, repr(exc))
        except (TypeError, ValueError) as exc:
            return [], (Reason.WRONG_TYPE, repr(exc))
        return [_in_partition(c, partition) for c in changes], None


def _in_partition(change: Change, partition: int) -> Change:
    if change.entry is None:
        return change
    return dataclasses.replace(change, entry={**change.entry, "partition": partition})


@dataclass(frozen=True)
class Journal:
    """A partition's journal: the last input record that changed its tables, what it
    wrote there (without the escalations) and the ``case.escalations`` offset after its
    escalations (the offset the partition's escalations are known up to)."""

    offset: int
    sent: int
    changes: tuple[Change, ...]

    @staticmethod
    def key(partition: int) -> bytes:
        return str(partition).encode()

    @classmethod
    def after(cls, offset: int, changes: Iterable[Change], sent: int) -> Journal:
        return cls(offset, sent, tuple(dataclasses.replace(c, sends=[]) for c in changes))

    def applied(self, offset: int) -> bool:
        """Whether the input record at ``offset`` is in the tables already."""
        return offset <= self.offset

    def to_json(self) -> dict[str, Any]:
        # table keys are case ids as bytes; latin-1 maps any bytes to text and back
        changes = [[c.key.decode("latin-1"), c.entry, c.remembered] for c in self.changes]
        return {"offset": self.offset, "sent": self.sent, "changes": changes}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Journal:
        changes = tuple(Change(str(k).encode("latin-1"), e, [], r) for k, e, r in value["changes"])
        return cls(int(value["offset"]), int(value["sent"]), changes)


def unsent(changes: Iterable[Change], known: set[str]) -> list[tuple[bytes, Entry]]:
    """``(case key, escalation)`` of ``changes`` to send: all but those ``known`` to be on
    the topic already."""
    return [(c.key, r) for c in changes for r in c.sends if r["escalation_id"] not in known]


async def _dead_letter(dead: Any, metrics: Metrics, rejected: tuple[Reason, str], m: Any) -> None:
    reason, message = rejected
    letter = DeadLetter(
        "escalation", reason, message, m.value or b"", m.topic, m.partition, m.offset
    )
    # the record's time: the dead letter's month partition (docs/schema.md)
    await dead.send(key=b"escalation", value=letter.to_json(), timestamp=m.timestamp, force=True)
    metrics.inc("citystream_deadletters_total", reason=reason.value)


@dataclass
class _Tables:
    """The agent's Faust tables (plain JSON values, as the lifecycle table: a typed value
    breaks changelog recovery), each written in the partition of the record at hand."""

    cases: Any  # key -> entry of a case still kept
    remembered: Any  # key -> what is kept of a dropped case that had raised levels
    journals: Any  # partition -> its Journal

    def journal(self, partition: int) -> Journal | None:
        value = self.journals.get(Journal.key(partition))
        return None if value is None else Journal.from_json(value)

    def write(self, partition: int, changes: Iterable[Change]) -> list[asyncio.Future]:
        """Write ``changes``; the futures of their changelog records."""
        out = []
        for c in changes:
            out.append(write_through(self.cases, partition, c.key, c.entry))
            if c.remembered is not None:
                out.append(write_through(self.remembered, partition, c.key, c.remembered))
        return out

    def write_journal(self, partition: int, journal: Journal) -> asyncio.Future:
        return write_through(self.journals, partition, Journal.key(partition), journal.to_json())


def _read_back(settings: Settings, partition: int, start: int) -> set[str]:
    """The escalation ids on ``partition`` of ``case.escalations`` from ``start`` on
    (blocking)."""
    topic = settings.kafka.topic(ESCALATIONS)
    tail = read_to_end(settings, topic, [partition], _READ_BACK_IDLE_S, {partition: start})
    return {orjson.loads(r.value)["escalation_id"] for r in tail}


@dataclass
class _Agent:
    """The agent's state in a worker: its tables and topics, the partitions resumed since
    their assignment and the escalations read back then."""

    settings: Settings
    step: EscalationStep
    tables: _Tables
    out: Any  # case.escalations
    dead: Any  # the dead-letter topic
    metrics: Metrics
    resumed: dict[int, int] = dataclasses.field(default_factory=dict)  # -> generation
    known: dict[int, set[str]] = dataclasses.field(default_factory=dict)  # read back

    async def resume(self, partition: int) -> None:
        """Complete the journal's writes and read back the escalations sent after it."""
        journal = self.tables.journal(partition)
        if journal is not None:
            await asyncio.gather(*self.tables.write(partition, journal.changes))
        read = functools.partial(
            _read_back, self.settings, partition, journal.sent if journal else 0
        )
        self.known[partition] = await asyncio.get_running_loop().run_in_executor(None, read)
        log.info(
            "escalation partition %d resumed: journal at input offset %s, %d escalation(s) "
            "sent after it read back",
            partition,
            journal.offset if journal else None,
            len(self.known[partition]),
        )

    async def apply(self, partition: int, offset: int, changes: list[Change]) -> None:
        # what was read back at the resume is on the topic already: an escalation id is
        # raised once per case, so it is never to be sent again (kept until reassignment)
        records = unsent(changes, self.known.get(partition, set()))
        pending = [
            await self.out.send(key=key, value=orjson.dumps(r), partition=partition, force=True)
            for key, r in records
        ]
        acked = await asyncio.gather(*pending)  # on the broker before the journal says sent
        previous = self.tables.journal(partition)
        sent = acked[-1].offset + 1 if acked else (previous.sent if previous else 0)
        journal = self.tables.write_journal(partition, Journal.after(offset, changes, sent))
        # the journal first; all in the changelogs before the input offset may commit
        await asyncio.gather(journal, *self.tables.write(partition, changes))
        for _, r in records:
            self.metrics.inc("citystream_escalations_total", level=str(r["level"]))

    def _entries(self, partition: int, key: bytes | None) -> dict[bytes, Entry]:
        """What a record is checked against: a tick, every case of its partition; a case
        record, its own case's entry only (a record moves no other case)."""
        if is_tick(key):
            cases = self.tables.cases.items()
            return {k: e for k, e in cases if e["partition"] == partition}
        if key is None:
            return {}
        own = self.tables.cases.get(key)
        return {} if own is None else {key: own}

    async def handle(self, m: Any) -> None:
        """One ``case.state`` message."""
        if self.resumed.get(m.partition) != m.generation_id:
            await self.resume(m.partition)
            self.resumed[m.partition] = m.generation_id
        journal = self.tables.journal(m.partition)
        if journal is not None and journal.applied(m.offset):
            return  # applied before the worker restarted
        entries = self._entries(m.partition, m.key)
        changes, rejected = self.step.record(
            entries, m.key or b"", m.value or b"", m.partition, self.tables.remembered
        )
        if rejected is not None:
            await _dead_letter(self.dead, self.metrics, rejected, m)
        elif changes:
            await self.apply(m.partition, m.offset, changes)


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    raw_topic = {"key_serializer": "raw", "value_serializer": "raw"}
    tables = _Tables(
        *(
            app.Table(name, default=None, partitions=settings.kafka.partitions, key_type=bytes)
            for name in ("escalation-cases", "escalation-remembered", "escalation-journal")
        )
    )
    agent = _Agent(
        settings,
        EscalationStep.from_settings(settings),
        tables,
        out=app.topic(settings.kafka.topic(ESCALATIONS), **raw_topic),
        dead=app.topic(settings.kafka.topic(DEADLETTER), **raw_topic),
        metrics=metrics,
    )

    async def escalation(stream: Any) -> None:
        async for event in stream.events():
            await agent.handle(event.message)

    states = app.topic(settings.kafka.topic(CASE_STATE), **raw_topic)
    app.agent(states, name="escalation")(escalation)
    if settings.escalation.clock == "wall":
        _add_wall_clock(app, settings, states)


def _add_wall_clock(app: Any, settings: Settings, states: Any) -> None:
    """Every worker ticks every partition: a tick older than one seen raises nothing, so
    replicas ticking side by side only repeat the time."""

    async def tick() -> None:
        value = tick_value(time.time_ns() // 1_000_000)
        for partition in range(settings.kafka.partitions):
            await states.send(key=CLOCK_KEY, value=value, partition=partition, force=True)

    app.timer(interval=settings.escalation.tick_s, name="escalation-clock")(tick)
