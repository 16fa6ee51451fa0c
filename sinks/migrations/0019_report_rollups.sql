-- Rollups for the meeting report queries (docs/bi/rollups.md, "Report queries"): the
-- escalations the overdue list reads, deduplicated per month partition, so the list no
-- longer merges `escalations FINAL` twice. Same watermark as 0015 (the escalations
-- family: a month's rows are read from the rollup while its partition's signature is the
-- one recorded at its refresh, every other month from the raw rows). Placeholders: {db}.

-- The escalations of the stale months as `FINAL` gives them: one row per escalation_id and
-- month partition (a re-sent escalation is one row), the columns the overdue list reads.
CREATE VIEW IF NOT EXISTS {db}.level_rollup_live AS
SELECT toUInt32(toYYYYMM(escalated_at)) AS month, case_id, level, escalated_at
FROM {db}.escalations FINAL
WHERE toUInt32(toYYYYMM(escalated_at)) IN (
    SELECT month FROM {db}.rollup_stale WHERE family = 'escalations'
);

-- Sorted by escalated_at: the overdue list reads a period's escalations and those up to
-- its end, ranges of the key.
CREATE TABLE IF NOT EXISTS {db}.rollup_level_rows (
    month UInt32,
    generation UInt64,
    case_id UInt64,
    level String,
    escalated_at DateTime
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (escalated_at, case_id);

-- The deduplicated escalations (`escalations FINAL`'s rows): the fresh months' stored rows
-- and the stale months' live ones.
CREATE VIEW IF NOT EXISTS {db}.escalation_levels AS
SELECT case_id, level, escalated_at
FROM (
    SELECT case_id, level, escalated_at
    FROM {db}.rollup_level_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'escalations'
    )
    UNION ALL
    SELECT case_id, level, escalated_at
    FROM {db}.level_rollup_live
);

ALTER TABLE {db}.rollup_level_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN case_id 'the escalated case',
    COMMENT COLUMN level 'escalation level (remind, supervise, department_head, district_leader)',
    COMMENT COLUMN escalated_at 'when the case crossed the threshold of its level';

-- The escalations family has a second table now: the months refreshed before this
-- migration have no rows in it, so every month is made stale (computed from the raw rows,
-- as before any refresh) until the next refresh stores both tables.
TRUNCATE TABLE {db}.rollup_generations;
