"""Role ``escalation``: 催办, 督办 and up the ladder for cases running out of time.

``case.state`` (keyed by case id) feeds a changelog-backed Faust table of the cases this
worker's partitions hold: status, dispatch time, deadline, hold and the levels already
raised (:mod:`streams.cases.escalation`). Each record raises what its case reached before
the transition and, when it moves its partition's clock, what the partition's open cases
reached by then; no timer, so the escalations follow from the records alone. Each goes to
``case.escalations`` keyed by case id; the table records it only once the broker has it,
so a crash in between sends it again (stored once, keyed by escalation id) and a restarted
worker, its table recovered from the changelog, never raises a level a second time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson

from streams.app.metrics import Metrics
from streams.cases import escalation as ladder_core
from streams.cases.escalation import Change, Ladder
from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason
from streams.contracts.topics import CASE_STATE, DEADLETTER, ESCALATIONS
from streams.settings import Settings

__all__ = ["EscalationStep", "register"]

Entry = dict[str, Any]


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
        self, entries: dict[bytes, Entry], key: bytes, raw: bytes, partition: int
    ) -> tuple[list[Change], tuple[Reason, str] | None]:
        """``(changes, None)``, or ``([], (reason, message))`` for a record that is not a
        case row (it goes to the dead letters; the table stays as it is). ``entries``:
        those of ``partition``; the entries made here carry it."""
        try:
            value = orjson.loads(raw)
            if not isinstance(value, dict):
                return [], (Reason.NOT_AN_OBJECT, "case.state value is not an object")
            changes = ladder_core.on_record(self.ladder, entries, key, value, self.horizon_ms)
        except orjson.JSONDecodeError as exc:
            return [], (Reason.MALFORMED_JSON, str(exc))
        except KeyError as exc:
            return [], (Reason.MISSING_FIELD, repr(exc))
        except (TypeError, ValueError) as exc:
            return [], (Reason.WRONG_TYPE, repr(exc))
        return [
            (k, None if e is None else {**e, "partition": partition}, s) for k, e, s in changes
        ], None


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
    # plain JSON values, as the lifecycle table (a typed value breaks changelog recovery);
    # every write happens while a record of the entry's partition is being processed
    table = app.Table(
        "escalation-cases", default=None, partitions=settings.kafka.partitions, key_type=bytes
    )

    async def apply(changes: list[Change]) -> None:
        pending = [
            await out.send(key=key, value=orjson.dumps(r), force=True)
            for key, _, sends in changes
            for r in sends
        ]
        await asyncio.gather(*pending)  # on the broker before the table says raised
        for key, entry, sends in changes:
            for r in sends:
                metrics.inc("citystream_escalations_total", level=str(r["level"]))
            if entry is None:
                table.pop(key, None)
            else:
                table[key] = entry

    async def escalation(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            entries = {k: e for k, e in table.items() if e["partition"] == m.partition}
            changes, rejected = step.record(entries, m.key or b"", m.value or b"", m.partition)
            if rejected is not None:
                await _dead_letter(dead, metrics, rejected, m)
            elif changes:
                await apply(changes)

    app.agent(states, name="escalation")(escalation)
