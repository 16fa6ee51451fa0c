-- Modern path overlay of 0021_level_sort_key.sql (docs/schema.md): the level in a
-- dictionary, the times delta-coded. Partitions and sort key are the base file's.
CREATE TABLE IF NOT EXISTS {db}.rollup_level_rows (
    month UInt32,
    generation UInt64,
    case_id UInt64,
    level LowCardinality(String),
    escalated_at DateTime CODEC(Delta, ZSTD(1))
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (level, escalated_at, case_id);
