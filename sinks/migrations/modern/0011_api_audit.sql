-- Modern path overlay of 0011_api_audit.sql (docs/schema.md).
CREATE TABLE IF NOT EXISTS {db}.api_audit (
    audit_id String,
    key_id LowCardinality(String),
    action LowCardinality(String),
    topic LowCardinality(String),
    record_key String,
    case_id UInt64 CODEC(ZSTD(1)),
    accepted_at DateTime CODEC(Delta, ZSTD(1)),
    media_urls String,
    record String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(accepted_at)
ORDER BY audit_id;
