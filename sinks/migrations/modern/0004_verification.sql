-- Modern path overlay of 0004_verification.sql (docs/schema.md; see modern/0001_tables.sql).
CREATE TABLE IF NOT EXISTS {db}.verify_tasks (
    task_id String,
    version UInt8,
    case_id UInt64 CODEC(ZSTD(1)),
    rework_round UInt16,
    supervisor LowCardinality(String),
    basis LowCardinality(String),
    department LowCardinality(String),
    category_key LowCardinality(String),
    grid_code LowCardinality(String),
    street LowCardinality(String),
    area LowCardinality(String),
    issued_at DateTime CODEC(Delta, ZSTD(1)),
    due_at DateTime CODEC(Delta, ZSTD(1)),
    status LowCardinality(String),
    settled_at DateTime CODEC(Delta, ZSTD(1)),
    note String
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(issued_at)
ORDER BY task_id;
