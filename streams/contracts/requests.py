"""Request updates (``hotline.updates``): a hotline request the 12345 platform published
again with a new status or notes.

Open311 servers re-publish a service request whenever it changes (``updated_datetime``).
Intake turns such a record into one of these instead of a duplicate dead letter; the sink
stores it (table ``request_updates``), and the view ``case_request_updates`` shows each
case the latest word of the requests linked to it. The centre's own case status is the
lifecycle's: a request the platform marks closed does not close the case.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

__all__ = ["RequestUpdate"]


@dataclass(frozen=True)
class RequestUpdate:
    event_id: int  # the request's event id (the fused contract's, from source and ref)
    request_id: str  # service_request_id
    status: str  # the platform's: "open", "closed" or "" when it sent none
    status_notes: str
    description: str
    updated_at_ms: int  # updated_datetime
    received_at_ms: int  # the raw record's arrival (its Kafka timestamp)

    @property
    def update_id(self) -> str:
        """One update of one request: the same re-publication sent twice is one update."""
        return f"{self.request_id}@{self.updated_at_ms}"

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> RequestUpdate:
        raw: Any = orjson.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("a request update is a JSON object")
        return cls(
            int(raw["event_id"]),
            str(raw["request_id"]),
            str(raw["status"]),
            str(raw["status_notes"]),
            str(raw["description"]),
            int(raw["updated_at_ms"]),
            int(raw["received_at_ms"]),
        )
