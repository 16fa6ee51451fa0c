-- The foot patrol (铁脚板) as data: sessions walked, street segments walked, the street
-- network and the rule per level. Placeholders: {db}, {tz}. The patrols stage writes the
-- sessions and visits (topics patrol.sessions, patrol.visits; docs/patrols.md); the
-- street segments come from the district's street file; the KPI views are defined on top.

-- A patrol session: one terminal's pings without a silence over the session gap;
-- session_id = "{device_id}:{first ping ms}".
CREATE TABLE IF NOT EXISTS {db}.patrol_sessions (
    session_id String,
    inspector_id String,
    level String,
    department String,
    device_id String,
    started_at DateTime,
    ended_at DateTime,
    points UInt32,
    matched_points UInt32,
    metres Float64,
    segments UInt32
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(started_at)
ORDER BY session_id;

-- A street segment walked in a session (kernels/walk.py: a run along the segment, not a
-- crossing); visit_id = "{session_id}:{k}".
CREATE TABLE IF NOT EXISTS {db}.patrol_segment_visits (
    visit_id String,
    session_id String,
    inspector_id String,
    level String,
    department String,
    segment_id UInt32,
    street_id String,
    street_name String,
    grid_code String,
    started_at DateTime,
    ended_at DateTime,
    metres Float64,
    points UInt32
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(started_at)
ORDER BY visit_id;

-- The district's street network (its streets GeoJSON), one row per segment; a new file
-- is loaded with a higher revision.
CREATE TABLE IF NOT EXISTS {db}.street_segments (
    segment_id UInt32,
    street_id String,
    street_name String,
    length_m Float64,
    revision UInt32
) ENGINE = ReplacingMergeTree(revision)
ORDER BY segment_id;

-- The patrol rule per level (DOMAIN.md): principal leaders at least 3 patrols a week,
-- section chiefs at least one a day, staff every day in their own area. Operators change
-- a rule by inserting a row for the level with a higher revision.
CREATE TABLE IF NOT EXISTS {db}.patrol_level_rules (
    level String,
    min_patrols UInt16,
    per String,
    own_area UInt8,
    description String,
    revision UInt32
) ENGINE = ReplacingMergeTree(revision)
ORDER BY level;

INSERT INTO {db}.patrol_level_rules (level, min_patrols, per, own_area, description, revision)
SELECT tupleElement(r, 1), tupleElement(r, 2), tupleElement(r, 3), tupleElement(r, 4),
    tupleElement(r, 5), 0
FROM system.one
ARRAY JOIN [
    ('principal_leader', toUInt16(3), 'week', toUInt8(0), 'principal leaders patrol at least 3 times a week'),
    ('section_chief', toUInt16(1), 'day', toUInt8(0), 'section-level cadres patrol at least once a day'),
    ('staff', toUInt16(1), 'day', toUInt8(1), 'unit-level staff patrol their own area every day')
] AS r;
