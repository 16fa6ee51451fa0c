-- citystream storage tables. Placeholders: {db} (database), {tz} (district time zone).
-- SQL kept to the subset ClickHouse 18.16 and current releases share (see docs/bi/kpis.md).
-- Idempotent storage: every table is a ReplacingMergeTree keyed on a deterministic id, and
-- its partition key is a function of fields that never change for that id, so a replayed
-- row always lands beside the row it duplicates and FINAL / merges collapse them.
-- Times are DateTime (UTC epoch seconds); 0 (1970-01-01 00:00:00) means "not yet".

-- Canonical events of events.fused (docs/contracts.md), one row per event_id.
CREATE TABLE IF NOT EXISTS {db}.events (
    event_id UInt64,
    source UInt8,
    category UInt16,
    flags UInt8,
    lat Float64,
    lon Float64,
    event_time DateTime,
    ingest_time DateTime,
    device_hash UInt64,
    source_ref String,
    device_id String,
    reporter String,
    department String,
    text String,
    address String,
    grid_code String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY event_id;

-- Current state of each case; version = lifecycle seq * 2^32 + n_events (higher wins).
CREATE TABLE IF NOT EXISTS {db}.cases (
    case_id UInt64,
    version UInt64,
    category_key String,
    department String,
    grid_code String,
    community String,
    street String,
    lat Float64,
    lon Float64,
    opened_at DateTime,
    dispatched_at DateTime,
    deadline DateTime,
    signed_at DateTime,
    handled_at DateTime,
    closed_at DateTime,
    voided_at DateTime,
    status String,
    rework_count UInt16,
    recurrence_of UInt64,
    n_events UInt32,
    urgent UInt8,
    fixed_on_spot UInt8
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(opened_at)
ORDER BY case_id;

-- Event -> case links (dedup output), one row per event_id.
CREATE TABLE IF NOT EXISTS {db}.links (
    event_id UInt64,
    case_id UInt64,
    source UInt8,
    source_ref String,
    is_new UInt8,
    recurrence_of UInt64,
    event_time DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY event_id;

-- Every lifecycle transition; transition_id = "{case_id}:{seq}".
CREATE TABLE IF NOT EXISTS {db}.case_stages (
    transition_id String,
    case_id UInt64,
    seq UInt32,
    action String,
    from_status String,
    to_status String,
    ts DateTime,
    actor String,
    department String,
    update_id String,
    note String,
    deadline DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (case_id, seq);

-- Dispatch orders (one per case).
CREATE TABLE IF NOT EXISTS {db}.dispatches (
    case_id UInt64,
    category_key String,
    department String,
    urgent UInt8,
    opened_at DateTime,
    dispatched_at DateTime,
    dispatch_due DateTime,
    dispatched_on_time UInt8,
    deadline_value Float64,
    deadline_unit String,
    deadline DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(opened_at)
ORDER BY case_id;

-- Dead letters; dl_id hashes source, topic, partition, offset and the original bytes.
CREATE TABLE IF NOT EXISTS {db}.dead_letters (
    dl_id UInt64,
    source String,
    reason String,
    message String,
    original String,
    topic String,
    partition Int32,
    offset Int64,
    received_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY source
ORDER BY dl_id;

-- GPS track points of patrol terminals.
CREATE TABLE IF NOT EXISTS {db}.patrol_tracks (
    inspector_id String,
    role String,
    department String,
    ts DateTime,
    lat Float64,
    lon Float64,
    grid_code String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (inspector_id, ts);

-- Unit-grid visits of patrols (a track entering a grid).
CREATE TABLE IF NOT EXISTS {db}.patrol_visits (
    inspector_id String,
    role String,
    department String,
    grid_code String,
    community String,
    street String,
    visited_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(visited_at)
ORDER BY (inspector_id, grid_code, visited_at);

-- Patrol rules: minimum patrol days a week per role. Operators change a rule by inserting
-- a row for the role with a higher revision.
CREATE TABLE IF NOT EXISTS {db}.patrol_rules (
    role String,
    min_days_per_week UInt8,
    description String,
    revision UInt32
) ENGINE = ReplacingMergeTree(revision)
ORDER BY role;

INSERT INTO {db}.patrol_rules (role, min_days_per_week, description, revision)
SELECT tupleElement(r, 1), tupleElement(r, 2), tupleElement(r, 3), 0
FROM system.one
ARRAY JOIN [
    ('department_head', toUInt8(3), 'department heads patrol at least 3 days a week'),
    ('section_chief', toUInt8(5), 'section chiefs patrol every working day'),
    ('inspector', toUInt8(5), 'inspectors walk their grids every working day')
] AS r;
