"""A raw record that could not become a canonical event, with the reason why."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from streams.contracts.reasons import Reason

__all__ = ["DeadLetter"]


@dataclass(slots=True)
class DeadLetter:
    """One ``deadletter`` topic value (docs/contracts.md).

    ``original`` is the raw bytes as received (for a gateway batch: the one bad alarm's
    JSON). ``index`` is the position of the raw payload in the list handed to the
    normalizer, so the caller can fill ``topic``/``partition``/``offset``; it is not
    serialised.
    """

    source: str
    reason: Reason
    message: str
    original: bytes
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    index: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "reason": self.reason.value,
            "message": self.message,
            "original": base64.b64encode(self.original).decode("ascii"),
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes) -> DeadLetter:
        raw = orjson.loads(data)
        return cls(
            source=raw["source"],
            reason=Reason(raw["reason"]),
            message=raw["message"],
            original=base64.b64decode(raw["original"]),
            topic=raw.get("topic"),
            partition=raw.get("partition"),
            offset=raw.get("offset"),
        )
