-- Modern path overlay of 0010_escalations.sql (docs/schema.md). escalated_at may be the
-- wall clock of the escalation timer: the key stays the id.
CREATE TABLE IF NOT EXISTS {db}.escalations (
    escalation_id String,
    case_id UInt64 CODEC(ZSTD(1)),
    level LowCardinality(String),
    department LowCardinality(String),
    category_key LowCardinality(String),
    grid_code LowCardinality(String),
    street LowCardinality(String),
    dispatched_at DateTime CODEC(Delta, ZSTD(1)),
    deadline DateTime CODEC(Delta, ZSTD(1)),
    escalated_at DateTime CODEC(Delta, ZSTD(1))
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(escalated_at)
ORDER BY escalation_id;
