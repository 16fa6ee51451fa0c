-- Modern path overlay of 0008_patrols.sql (docs/schema.md); the reference tables (street
-- segments, level rules) are small and run as the base file writes them.
CREATE TABLE IF NOT EXISTS {db}.patrol_sessions (
    session_id String,
    inspector_id String,
    level LowCardinality(String),
    department LowCardinality(String),
    device_id String,
    started_at DateTime CODEC(Delta, ZSTD(1)),
    ended_at DateTime CODEC(Delta, ZSTD(1)),
    points UInt32,
    matched_points UInt32,
    metres Float64,
    segments UInt32
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(started_at)
ORDER BY session_id;

CREATE TABLE IF NOT EXISTS {db}.patrol_segment_visits (
    visit_id String,
    session_id String,
    inspector_id String,
    level LowCardinality(String),
    department LowCardinality(String),
    segment_id UInt32,
    street_id LowCardinality(String),
    street_name LowCardinality(String),
    grid_code LowCardinality(String),
    started_at DateTime CODEC(Delta, ZSTD(1)),
    ended_at DateTime CODEC(Delta, ZSTD(1)),
    metres Float64,
    points UInt32
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(started_at)
ORDER BY visit_id;
