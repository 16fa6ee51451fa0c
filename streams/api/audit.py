"""The ``api.audit`` record of an accepted write: the row of the ``api_audit`` table
(sinks/migrations/*_api_audit.sql). It names the key by id and holds the record written,
never the request (an Open311 body carries the api_key)."""

from __future__ import annotations

import orjson

from streams.contracts.topics import API_AUDIT

__all__ = ["audit_record"]


def audit_record(
    key_id: str,
    action: str,
    topic: str,
    record_key: str,
    record: bytes,
    accepted_at_ms: int,
    case_id: int = 0,
    media: tuple[str, ...] = (),
) -> tuple[str, bytes, bytes]:
    """``(topic, key, value)`` of the audit record; its id is the write's own id (the
    request id or the update id), so a write re-sent after a failure is one row."""
    value = orjson.loads(record)
    audit_id = (
        f"open311:{value['service_request_id']}"
        if action == "open311_request"
        else str(value["update_id"])
    )
    row = {
        "audit_id": audit_id,
        "key_id": key_id,
        "action": action,
        "topic": topic,
        "record_key": record_key,
        "case_id": case_id,
        "accepted_at": accepted_at_ms,
        "media_urls": orjson.dumps(list(media)).decode(),
        "record": record.decode("utf-8"),
    }
    return API_AUDIT, audit_id.encode(), orjson.dumps(row)
