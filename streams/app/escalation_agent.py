"""Role ``escalation``: 催办, 督办 and up the ladder for cases running out of time.

``case.state`` (keyed by case id) feeds a changelog-backed Faust table of the cases this
worker's partitions hold: status, dispatch time, deadline, hold and the levels already
raised (:mod:`streams.cases.escalation`). A case's record raises the levels its previous
state reached before the transition; a timer raises the levels open cases reach as the
pipeline clock (the latest opening or dispatch in the table) moves on. Each escalation goes to
``case.escalations`` keyed by case id; the table records it only once the broker has it,
so a crash in between sends it again (stored once, keyed by escalation id) and a restarted
worker, its table recovered from the changelog, never raises a level a second time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from streams.app.metrics import Metrics
from streams.cases import escalation as ladder_core
from streams.cases.escalation import Ladder
from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason
from streams.contracts.topics import CASE_STATE, DEADLETTER, ESCALATIONS
from streams.settings import Settings

__all__ = ["EscalationStep", "register"]

Entry = dict[str, Any]
Change = tuple[str, Entry | None, list[dict[str, Any]]]  # key, new entry (None: drop), sends


@dataclass(frozen=True)
class EscalationStep:
    """Pure part of the agent, over the table's entries by key."""

    ladder: Ladder
    horizon_ms: int  # how long a closed case's entry outlives its last transition

    @classmethod
    def from_settings(cls, settings: Settings) -> EscalationStep:
        horizon = settings.pipeline.redelivery_horizon_s * 1000
        return cls(Ladder.from_settings(settings), horizon)

    def record(
        self, entry: Entry | None, raw: bytes
    ) -> tuple[Entry | None, list[dict[str, Any]], tuple[Reason, str] | None]:
        """One ``case.state`` message against the case's entry: ``(entry, escalations,
        None)``, or ``(entry unchanged, [], (reason, message))`` for a record that is not
        a case row (it goes to the dead letters; the case keeps its entry)."""
        try:
            value = orjson.loads(raw)
            if not isinstance(value, dict):
                return entry, [], (Reason.NOT_AN_OBJECT, "case.state value is not an object")
            new, sends = ladder_core.on_state(self.ladder, entry, value)
        except orjson.JSONDecodeError as exc:
            return entry, [], (Reason.MALFORMED_JSON, str(exc))
        except KeyError as exc:
            return entry, [], (Reason.MISSING_FIELD, repr(exc))
        except (TypeError, ValueError) as exc:
            return entry, [], (Reason.WRONG_TYPE, repr(exc))
        return new, sends, None

    def tick(self, entries: Iterable[tuple[str, Entry]]) -> list[Change]:
        """The changes a timer tick makes: escalations due by the pipeline clock, and
        entries of closed cases dropped once past the redelivery horizon."""
        items = [(k, e) for k, e in entries if e is not None]
        now = ladder_core.now_of(e for _, e in items)
        changes: list[Change] = []
        for key, entry in items:
            if ladder_core.prunable(entry, now, self.horizon_ms):
                changes.append((key, None, []))
                continue
            new, sends = ladder_core.on_tick(self.ladder, entry, now)
            if sends:
                changes.append((key, new, sends))
        return changes


def _ready(app: Any) -> bool:
    """Whether the table is whole: a tick on a half-recovered table would raise again the
    levels whose entries are not back yet."""
    recovery = app.tables.recovery
    return not (app.rebalancing or app.in_recovery or not recovery.completed.is_set())


async def _dead_letter(dead: Any, metrics: Metrics, rejected: tuple[Reason, str], m: Any) -> None:
    reason, message = rejected
    letter = DeadLetter(
        "escalation", reason, message, m.value or b"", m.topic, m.partition, m.offset
    )
    await dead.send(key=b"escalation", value=letter.to_json(), force=True)
    metrics.inc("citystream_deadletters_total", reason=reason.value)


def register(app: Any, settings: Settings, metrics: Metrics) -> None:
    step = EscalationStep.from_settings(settings)
    raw_topic = {"key_serializer": "raw", "value_serializer": "raw"}
    states = app.topic(settings.kafka.topic(CASE_STATE), **raw_topic)
    out = app.topic(settings.kafka.topic(ESCALATIONS), **raw_topic)
    dead = app.topic(settings.kafka.topic(DEADLETTER), **raw_topic)
    # plain JSON values, as the lifecycle table (a typed value breaks changelog recovery)
    table = app.Table(
        "escalation-cases", default=None, partitions=settings.kafka.partitions, key_type=str
    )
    # the agent and the timer both read-modify-write entries across awaits (the sends)
    lock = asyncio.Lock()

    async def apply(key: str, entry: Entry | None, sends: list[dict[str, Any]]) -> None:
        pending = [
            await out.send(key=key.encode(), value=orjson.dumps(r), force=True) for r in sends
        ]
        await asyncio.gather(*pending)  # on the broker before the table says raised
        for r in sends:
            metrics.inc("citystream_escalations_total", level=str(r["level"]))
        if entry is None:
            table.pop(key, None)
        else:
            table[key] = entry

    async def escalation(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            key = (m.key or b"").decode(errors="replace")
            async with lock:
                entry, sends, rejected = step.record(table.get(key), m.value or b"")
                if rejected is not None:
                    await _dead_letter(dead, metrics, rejected, m)
                elif entry is not None and entry != table.get(key):
                    await apply(key, entry, sends)

    async def tick() -> None:
        if not _ready(app):
            return
        async with lock:
            for key, entry, sends in step.tick(list(table.items())):
                await apply(key, entry, sends)

    app.agent(states, name="escalation")(escalation)
    app.timer(settings.escalation.interval_s, name="escalation-ladder")(tick)
