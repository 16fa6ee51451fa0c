-- The deduplicated escalations the overdue list reads (rollup_level_rows, migration 0019)
-- sorted by level first (docs/bi/rollups.md, "The overdue list's levels"). The list asks,
-- per level, which cases had reached it by the period's end: with the level first in the
-- key each such question reads one range of the key, where the time-led key of 0019 read
-- every escalation of every level up to the period's end (4.6 M rows for a month of the
-- 10 M-event bench store, against 1.9 M). A period's escalations stay a range per level.
-- Placeholders: {db}.

DROP TABLE IF EXISTS {db}.rollup_level_rows;

CREATE TABLE IF NOT EXISTS {db}.rollup_level_rows (
    month UInt32,
    generation UInt64,
    case_id UInt64,
    level String,
    escalated_at DateTime
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (level, escalated_at, case_id);

ALTER TABLE {db}.rollup_level_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN case_id 'the escalated case',
    COMMENT COLUMN level 'escalation level (remind, supervise, department_head, district_leader)',
    COMMENT COLUMN escalated_at 'when the case crossed the threshold of its level';

-- The table's rows are gone: the escalations family's months are made stale (computed from
-- the raw rows, as before any refresh) until the next refresh stores both of its tables.
-- 18.16 deletes rows by mutation only, so each month's record is superseded instead, by
-- the next generation with a signature no month has; the other families stay fresh.
INSERT INTO {db}.rollup_generations (family, month, generation, signature)
SELECT family, month, toUInt64(latest + 1), 'superseded by migration 0021'
FROM (
    SELECT family, month, (SELECT max(generation) FROM {db}.rollup_generations) AS latest
    FROM {db}.rollup_generations
    WHERE family = 'escalations'
    GROUP BY family, month
);
