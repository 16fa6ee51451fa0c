-- Modern path overlay of 0007_request_updates.sql (docs/schema.md).
CREATE TABLE IF NOT EXISTS {db}.request_updates (
    update_id String,
    event_id UInt64 CODEC(ZSTD(1)),
    request_id String,
    status LowCardinality(String),
    status_notes String,
    description String,
    updated_at DateTime CODEC(Delta, ZSTD(1)),
    received_at DateTime CODEC(Delta, ZSTD(1))
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(updated_at)
ORDER BY update_id;
