-- Writes accepted by the api role (api.audit, streams/api/audit.py). Placeholders: {db}.
-- One row per audit_id: an Open311 request's "open311:{service_request_id}", a desk
-- action's update id ("desk:{key id}:{Idempotency-Key}"); a retried write the api
-- answered from its idempotency memory is the same row. `record` is the JSON written to
-- `topic` (never the request body: an Open311 body carries the client's api_key).
CREATE TABLE IF NOT EXISTS {db}.api_audit (
    audit_id String,
    key_id String,
    action String,
    topic String,
    record_key String,
    case_id UInt64,
    accepted_at DateTime,
    media_urls String,
    record String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(accepted_at)
ORDER BY audit_id;
