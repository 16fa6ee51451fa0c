-- Modern path overlay of 0001_tables.sql (docs/schema.md): the same tables and columns,
-- stored for a current ClickHouse. Each statement takes the place of the base file's
-- statement for the same table; the base file's other statements run as written.
-- LowCardinality on categorical strings (a dictionary per part: smaller, faster GROUP BY);
-- Delta+ZSTD on times (they rise slowly inside a sort run), ZSTD on hashed ids (random:
-- no delta helps). A sort key only ever leads with a time that is fixed for the row's id
-- (an event's time, a case's opening): a ReplacingMergeTree collapses the rows with equal
-- keys, so a column that could change between two versions of a row must stay out of it.
-- The month partitions of events, cases, links and dispatches are the base file's: the
-- rollups (0015) read them by their partition id YYYYMM.

CREATE TABLE IF NOT EXISTS {db}.events (
    event_id UInt64 CODEC(ZSTD(1)),
    source UInt8,
    category UInt16,
    flags UInt8,
    lat Float64,
    lon Float64,
    event_time DateTime CODEC(Delta, ZSTD(1)),
    ingest_time DateTime CODEC(Delta, ZSTD(1)),
    device_hash UInt64 CODEC(ZSTD(1)),
    source_ref String,
    device_id String,
    reporter String,
    department LowCardinality(String),
    text String,
    address String,
    grid_code LowCardinality(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

CREATE TABLE IF NOT EXISTS {db}.cases (
    case_id UInt64 CODEC(ZSTD(1)),
    version UInt64,
    category_key LowCardinality(String),
    department LowCardinality(String),
    grid_code LowCardinality(String),
    community LowCardinality(String),
    street LowCardinality(String),
    lat Float64,
    lon Float64,
    opened_at DateTime CODEC(Delta, ZSTD(1)),
    dispatched_at DateTime CODEC(Delta, ZSTD(1)),
    deadline DateTime CODEC(Delta, ZSTD(1)),
    signed_at DateTime CODEC(Delta, ZSTD(1)),
    handled_at DateTime CODEC(Delta, ZSTD(1)),
    closed_at DateTime CODEC(Delta, ZSTD(1)),
    voided_at DateTime CODEC(Delta, ZSTD(1)),
    status LowCardinality(String),
    rework_count UInt16,
    recurrence_of UInt64 CODEC(ZSTD(1)),
    n_events UInt32,
    urgent UInt8,
    fixed_on_spot UInt8
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(opened_at)
ORDER BY (opened_at, case_id);

CREATE TABLE IF NOT EXISTS {db}.links (
    event_id UInt64 CODEC(ZSTD(1)),
    case_id UInt64 CODEC(ZSTD(1)),
    source UInt8,
    source_ref String,
    is_new UInt8,
    recurrence_of UInt64 CODEC(ZSTD(1)),
    event_time DateTime CODEC(Delta, ZSTD(1))
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id);

-- a transition's ts may be a timer's clock: the key stays the id (case, seq)
CREATE TABLE IF NOT EXISTS {db}.case_stages (
    transition_id String,
    case_id UInt64 CODEC(ZSTD(1)),
    seq UInt32,
    action LowCardinality(String),
    from_status LowCardinality(String),
    to_status LowCardinality(String),
    ts DateTime CODEC(Delta, ZSTD(1)),
    actor String,
    department LowCardinality(String),
    update_id String,
    note String,
    deadline DateTime CODEC(Delta, ZSTD(1))
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (case_id, seq);

CREATE TABLE IF NOT EXISTS {db}.dispatches (
    case_id UInt64 CODEC(ZSTD(1)),
    category_key LowCardinality(String),
    department LowCardinality(String),
    urgent UInt8,
    opened_at DateTime CODEC(Delta, ZSTD(1)),
    dispatched_at DateTime CODEC(Delta, ZSTD(1)),
    dispatch_due DateTime CODEC(Delta, ZSTD(1)),
    dispatched_on_time UInt8,
    deadline_value Float64,
    deadline_unit LowCardinality(String),
    deadline DateTime CODEC(Delta, ZSTD(1))
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(opened_at)
ORDER BY (opened_at, case_id);

-- By month of arrival, so old months can be dropped; received_at is the raw record's Kafka
-- timestamp (the dead letter is sent with it), fixed for the dl_id. The payload's TTL
-- (CITYSTREAM_CLICKHOUSE_DEAD_LETTER_PAYLOAD_DAYS) is set by sinks/retention.py.
CREATE TABLE IF NOT EXISTS {db}.dead_letters (
    dl_id UInt64 CODEC(ZSTD(1)),
    source LowCardinality(String),
    reason LowCardinality(String),
    message String,
    original String,
    topic LowCardinality(String),
    partition Int32,
    offset Int64,
    received_at DateTime CODEC(Delta, ZSTD(1))
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (source, dl_id);

-- GPS pings; their TTL (CITYSTREAM_CLICKHOUSE_PATROL_TRACK_DAYS) is set by sinks/retention.py
CREATE TABLE IF NOT EXISTS {db}.patrol_tracks (
    inspector_id String,
    role LowCardinality(String),
    department LowCardinality(String),
    ts DateTime CODEC(Delta, ZSTD(1)),
    lat Float64,
    lon Float64,
    grid_code LowCardinality(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (inspector_id, ts);

CREATE TABLE IF NOT EXISTS {db}.patrol_visits (
    inspector_id String,
    role LowCardinality(String),
    department LowCardinality(String),
    grid_code LowCardinality(String),
    community LowCardinality(String),
    street LowCardinality(String),
    visited_at DateTime CODEC(Delta, ZSTD(1))
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(visited_at)
ORDER BY (inspector_id, grid_code, visited_at);
