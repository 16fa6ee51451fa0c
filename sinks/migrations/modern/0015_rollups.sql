-- Modern path overlay of 0015_rollups.sql (docs/schema.md): the rollup tables' categorical
-- columns in dictionaries, their times delta-coded. Partitions and sort keys are the base
-- file's: the refresh job drops superseded (month, generation) partitions by their value.
CREATE TABLE IF NOT EXISTS {db}.rollup_generations (
    family LowCardinality(String),
    month UInt32,
    generation UInt64,
    signature String
) ENGINE = ReplacingMergeTree(generation)
ORDER BY (family, month);

CREATE TABLE IF NOT EXISTS {db}.rollup_case_rows (
    month UInt32,
    generation UInt64,
    pending UInt8,
    r_period LowCardinality(String),
    r_period_start Date,
    department LowCardinality(String),
    street LowCardinality(String),
    community LowCardinality(String),
    grid_code LowCardinality(String),
    r_deadline DateTime CODEC(Delta, ZSTD(1)),
    n_opened UInt64,
    n_due UInt64,
    n_handled UInt64,
    n_handled_on_time UInt64,
    n_closed UInt64,
    n_closed_on_time UInt64,
    n_reworked UInt64,
    n_dispatched UInt64,
    n_dispatched_on_time UInt64,
    n_closed_in_period UInt64,
    n_recurrences UInt64,
    sum_lat Float64,
    sum_lon Float64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (pending, r_period, r_period_start, department, grid_code, r_deadline);

CREATE TABLE IF NOT EXISTS {db}.rollup_intake_rows (
    month UInt32,
    generation UInt64,
    r_period LowCardinality(String),
    r_period_start Date,
    source UInt8,
    n_reports UInt64,
    n_new UInt64,
    n_fixed UInt64,
    n_recurrences UInt64,
    n_late UInt64,
    n_beyond UInt64,
    cases AggregateFunction(uniqExact, UInt64)
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (r_period, r_period_start, source);

CREATE TABLE IF NOT EXISTS {db}.rollup_escalation_rows (
    month UInt32,
    generation UInt64,
    r_period LowCardinality(String),
    r_period_start Date,
    department LowCardinality(String),
    level LowCardinality(String),
    n_escalations UInt64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (r_period, r_period_start, department, level);

CREATE TABLE IF NOT EXISTS {db}.rollup_minute_rows (
    month UInt32,
    generation UInt64,
    minute DateTime CODEC(Delta, ZSTD(1)),
    source UInt8,
    n_events UInt64,
    n_fixed UInt64,
    n_late UInt64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (minute, source);

CREATE TABLE IF NOT EXISTS {db}.rollup_verification_rows (
    month UInt32,
    generation UInt64,
    pending UInt8,
    r_period LowCardinality(String),
    r_period_start Date,
    department LowCardinality(String),
    grid_code LowCardinality(String),
    street LowCardinality(String),
    supervisor LowCardinality(String),
    r_due DateTime CODEC(Delta, ZSTD(1)),
    n_due UInt64,
    n_verified UInt64,
    n_on_time UInt64,
    n_passed UInt64,
    n_failed UInt64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (pending, r_period, r_period_start, department, grid_code, r_due);
