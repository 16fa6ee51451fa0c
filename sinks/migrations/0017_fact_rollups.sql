-- Rollups of the building blocks (docs/bi/rollups.md, "Deduplicated facts"): the views that
-- do not add up per period (exact medians, one row per report, recurrences naming a case of
-- another month) and the report queries over the cases read deduplicated, pre-joined rows
-- instead of `FINAL` over the raw ones. Same watermark as 0015: a month's rows are read from
-- the rollup while its source partitions' signature is the one recorded at its refresh,
-- every other month is computed from the raw rows. Placeholders: {db}, {tz}.
-- Families: 'facts' (case_facts: the month partitions of cases and dispatches, as 'cases'),
-- 'reports' (report_lateness: those of links and events, as 'intake').

DROP TABLE IF EXISTS {db}.rollup_signatures;

-- As in 0015, plus the families of this migration, and the intake family's month M also
-- depends on the links of month M - 1 (its case counts leave out the cases already counted
-- there, see intake_rollup_live below). A part names its partition, since a signature can
-- now hold two partitions of one table.
CREATE VIEW IF NOT EXISTS {db}.rollup_signatures AS
SELECT family, month, arrayStringConcat(arraySort(groupArray(part)), ',') AS signature
FROM (
    SELECT tupleElement(fm, 1) AS family, tupleElement(fm, 2) AS month, part
    FROM (
        SELECT
            table,
            toUInt32(partition_id) AS p,
            toUInt32(if(p % 100 = 12, p + 89, p + 1)) AS next_p,
            concat(table, '@', partition_id, ':', toString(max(max_block_number)), ':',
                toString(max(if(data_version != min_block_number, data_version, 0)))) AS part
        FROM system.parts
        WHERE database = '{db}' AND active
            AND table IN ('cases', 'dispatches', 'links', 'events', 'escalations', 'verify_tasks')
        GROUP BY table, partition_id
    )
    ARRAY JOIN multiIf(
        table IN ('cases', 'dispatches'), [('cases', p), ('facts', p)],
        table = 'links', [('intake', p), ('intake', next_p), ('reports', p)],
        table = 'events', [('intake', p), ('minutes', p), ('reports', p)],
        table = 'verify_tasks', [('verification', p)],
        [('escalations', p)]) AS fm
)
GROUP BY family, month;

-- The stored columns of case_facts (0002) of the stale months: the latest version of each
-- case with its dispatch's (a dispatch carries its case's opened_at: the same month).
CREATE VIEW IF NOT EXISTS {db}.fact_rollup_live AS
SELECT
    toUInt32(toYYYYMM(opened_at)) AS month,
    case_id, category_key, department, grid_code, community, street, lat, lon,
    urgent, fixed_on_spot, status, rework_count, recurrence_of, n_events,
    opened_at, dispatched_at, deadline, signed_at, handled_at, closed_at, voided_at,
    dispatch_due, dispatched_on_time
FROM (
    SELECT
        case_id, category_key, department, grid_code, community, street, lat, lon,
        urgent, fixed_on_spot, status, rework_count, recurrence_of, n_events,
        opened_at, dispatched_at, deadline, signed_at, handled_at, closed_at, voided_at
    FROM {db}.cases FINAL
    WHERE toUInt32(toYYYYMM(opened_at)) IN (
        SELECT month FROM {db}.rollup_stale WHERE family = 'facts'
    )
) AS c
ANY LEFT JOIN (
    SELECT case_id, dispatch_due, dispatched_on_time
    FROM {db}.dispatches FINAL
    WHERE toUInt32(toYYYYMM(opened_at)) IN (
        SELECT month FROM {db}.rollup_stale WHERE family = 'facts'
    )
) AS d USING case_id;

CREATE TABLE IF NOT EXISTS {db}.rollup_fact_rows (
    month UInt32,
    generation UInt64,
    case_id UInt64,
    category_key String,
    department String,
    grid_code String,
    community String,
    street String,
    lat Float64,
    lon Float64,
    urgent UInt8,
    fixed_on_spot UInt8,
    status String,
    rework_count UInt16,
    recurrence_of UInt64,
    n_events UInt32,
    opened_at DateTime,
    dispatched_at DateTime,
    deadline DateTime,
    signed_at DateTime,
    handled_at DateTime,
    closed_at DateTime,
    voided_at DateTime,
    dispatch_due DateTime,
    dispatched_on_time UInt8
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (opened_at, case_id);

-- case_facts as in 0002 (same rows, same columns): the fresh months' stored rows and the
-- stale months' live ones, with the flags computed at query time (due_at depends on now()).
DROP TABLE IF EXISTS {db}.case_facts;

CREATE VIEW IF NOT EXISTS {db}.case_facts AS
SELECT
    case_id, category_key, department, grid_code, community, street, lat, lon,
    urgent, fixed_on_spot, status, rework_count, recurrence_of, n_events,
    opened_at, dispatched_at, deadline, signed_at, handled_at, closed_at, voided_at,
    dispatch_due, dispatched_on_time,
    toUInt8(status = 'voided') AS voided,
    toUInt8(closed_at > toDateTime(0) AND dispatched_at = toDateTime(0)) AS closed_on_spot,
    if(closed_on_spot = 1, closed_at, handled_at) AS handled_eff,
    toUInt8(handled_eff > toDateTime(0)) AS is_handled,
    toUInt8(closed_at > toDateTime(0)) AS is_closed,
    toUInt8(is_handled = 1 AND (closed_on_spot = 1 OR handled_eff <= deadline)) AS handled_on_time,
    toUInt8(is_closed = 1 AND handled_on_time = 1) AS closed_on_time,
    toUInt8(rework_count > 0) AS reworked,
    multiIf(
        voided = 1, toDateTime(0),
        closed_on_spot = 1, closed_at,
        is_handled = 1 AND deadline > toDateTime(0), least(handled_eff, deadline),
        is_handled = 1, handled_eff,
        deadline > toDateTime(0) AND deadline <= now(), deadline,
        toDateTime(0)) AS due_at
FROM (
    SELECT
        case_id, category_key, department, grid_code, community, street, lat, lon,
        urgent, fixed_on_spot, status, rework_count, recurrence_of, n_events,
        opened_at, dispatched_at, deadline, signed_at, handled_at, closed_at, voided_at,
        dispatch_due, dispatched_on_time
    FROM {db}.rollup_fact_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'facts'
    )
    UNION ALL
    SELECT
        case_id, category_key, department, grid_code, community, street, lat, lon,
        urgent, fixed_on_spot, status, rework_count, recurrence_of, n_events,
        opened_at, dispatched_at, deadline, signed_at, handled_at, closed_at, voided_at,
        dispatch_due, dispatched_on_time
    FROM {db}.fact_rollup_live
);

-- kpi_recurrences as in 0013 (same rows, same columns), from case_facts (its latest case
-- versions, now read from the rollup) instead of two reads of `cases FINAL`, and counted
-- per closing day, department and category before the periods and levels multiply the
-- rows by 12 (the counts add up: each closed case is in one day's group).
DROP TABLE IF EXISTS {db}.kpi_recurrences;

CREATE VIEW IF NOT EXISTS {db}.kpi_recurrences AS
SELECT
    period, period_start, level, unit,
    sum(n_closed) AS closed,
    sum(n_recurred) AS recurred,
    sum(n_recurrences) AS recurrences,
    if(closed = 0, 0., 100. * recurred / closed) AS recurrence_rate
FROM (
    SELECT period, period_start, department, category_key, n_closed, n_recurred, n_recurrences
    FROM (
        SELECT
            department, category_key, day,
            count() AS n_closed,
            countIf(n > 0) AS n_recurred,
            sum(n) AS n_recurrences
        FROM (
            SELECT c.department, c.category_key, toDate(c.closed_at, '{tz}') AS day, r.n AS n
            FROM (
                SELECT case_id, department, category_key, closed_at
                FROM {db}.case_facts
                WHERE status = 'closed'
            ) AS c
            LEFT JOIN (
                SELECT recurrence_of AS case_id, toUInt64(count()) AS n
                FROM {db}.case_facts
                WHERE recurrence_of != 0
                GROUP BY recurrence_of
            ) AS r USING case_id
        )
        GROUP BY department, category_key, day
    )
    ARRAY JOIN
        ['day', 'week', 'half_month', 'month'] AS period,
        [day, toMonday(day),
         if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15),
         toStartOfMonth(day)] AS period_start
)
ARRAY JOIN
    ['department', 'category', 'district'] AS level,
    [department, category_key, ''] AS unit
WHERE NOT (level != 'district' AND unit = '')
GROUP BY period, period_start, level, unit;

-- The stored columns of report_lateness (0003) of the stale months: each link's latest row
-- with its event's flags and ingest time (a link carries its event's event_time).
CREATE VIEW IF NOT EXISTS {db}.report_rollup_live AS
SELECT
    toUInt32(toYYYYMM(event_time)) AS month,
    event_id, case_id, source, is_new, event_time, ingest_time, flags, event_flags
FROM (
    SELECT event_id, case_id, source, is_new, event_time, flags
    FROM {db}.links FINAL
    WHERE toUInt32(toYYYYMM(event_time)) IN (
        SELECT month FROM {db}.rollup_stale WHERE family = 'reports'
    )
) AS l
ANY LEFT JOIN (
    SELECT event_id, flags AS event_flags, ingest_time
    FROM {db}.events FINAL
    WHERE toUInt32(toYYYYMM(event_time)) IN (
        SELECT month FROM {db}.rollup_stale WHERE family = 'reports'
    )
) AS e USING event_id;

CREATE TABLE IF NOT EXISTS {db}.rollup_report_rows (
    month UInt32,
    generation UInt64,
    event_id UInt64,
    case_id UInt64,
    source UInt8,
    is_new UInt8,
    event_time DateTime,
    ingest_time DateTime,
    flags UInt8,
    event_flags UInt8
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (source, event_time);

-- report_lateness as in 0003 (same rows, same columns), from the report rollup rows.
DROP TABLE IF EXISTS {db}.report_lateness;

CREATE VIEW IF NOT EXISTS {db}.report_lateness AS
SELECT
    event_id, case_id, source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    is_new, event_time, ingest_time,
    (toInt64(ingest_time) - toInt64(event_time)) / 60. AS delay_min,
    toUInt8(bitAnd(bitOr(flags, event_flags), 2) = 2) AS late,
    toUInt8(bitAnd(flags, 4) = 4) AS beyond_state
FROM (
    SELECT event_id, case_id, source, is_new, event_time, ingest_time, flags, event_flags
    FROM {db}.rollup_report_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'reports'
    )
    UNION ALL
    SELECT event_id, case_id, source, is_new, event_time, ingest_time, flags, event_flags
    FROM {db}.report_rollup_live
);

ALTER TABLE {db}.rollup_fact_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN case_id 'case id (the latest version of the case at the refresh)',
    COMMENT COLUMN category_key 'category (事部件) key',
    COMMENT COLUMN department 'department in charge',
    COMMENT COLUMN grid_code 'unit grid code, empty if outside every grid',
    COMMENT COLUMN community 'community (社区) code',
    COMMENT COLUMN street 'street (街道) code',
    COMMENT COLUMN lat 'latitude of the case',
    COMMENT COLUMN lon 'longitude of the case',
    COMMENT COLUMN urgent '1: urgent case',
    COMMENT COLUMN fixed_on_spot '1: fixed on the spot',
    COMMENT COLUMN status 'the case status',
    COMMENT COLUMN rework_count 'times sent back for rework',
    COMMENT COLUMN recurrence_of 'the closed case this one recurs (0: none)',
    COMMENT COLUMN n_events 'reports merged into the case',
    COMMENT COLUMN opened_at 'when the case was opened',
    COMMENT COLUMN dispatched_at 'when it was dispatched (0: not)',
    COMMENT COLUMN deadline 'handling deadline (0: none)',
    COMMENT COLUMN signed_at 'when the department signed for it (0: not)',
    COMMENT COLUMN handled_at 'when it was handled (0: not)',
    COMMENT COLUMN closed_at 'when it was closed (0: not)',
    COMMENT COLUMN voided_at 'when it was voided (0: not)',
    COMMENT COLUMN dispatch_due 'the dispatch deadline (0: no dispatch)',
    COMMENT COLUMN dispatched_on_time '1: dispatched by its dispatch deadline';

ALTER TABLE {db}.rollup_report_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN event_id 'the report (event) id',
    COMMENT COLUMN case_id 'the case it was linked to',
    COMMENT COLUMN source 'channel: 0 sensor, 1 hotline, 2 patrol',
    COMMENT COLUMN is_new '1: the report opened its case',
    COMMENT COLUMN event_time 'when the problem was reported',
    COMMENT COLUMN ingest_time 'when the report reached the pipeline',
    COMMENT COLUMN flags 'the link flags (bit 1 late, bit 2 beyond the dedup state)',
    COMMENT COLUMN event_flags 'the event flags (bit 0 fixed on the spot, bit 1 late)';

-- The intake family without uniqExact states (kpi_intake took 1.6 s to 1.8 s at 10 M
-- events merging them): a period's cases per channel are added up over the month
-- partitions, each case counted in the first partition holding one of its reports of that
-- period and channel. A period spans at most two partitions (M - 1 and M: the district's
-- day, week, half month or month, whatever its offset from UTC), so month M counts the
-- cases with a report in it and none in the same period and channel in month M - 1; the
-- refresh of M reads the links of M - 1 (their end of it: the periods reaching into M),
-- and M's signature holds them (rollup_signatures).
DROP TABLE IF EXISTS {db}.intake_rollup_rows;
DROP TABLE IF EXISTS {db}.intake_rollup_live;
DROP TABLE IF EXISTS {db}.rollup_intake_rows;

-- The (month the period reaches into, period, start, channel, case) of the links of the
-- months before the stale ones, in the periods that reach into the next month: ending (at
-- the district's midnight) after that month's partition starts (at the server's).
CREATE VIEW IF NOT EXISTS {db}.intake_rollup_earlier AS
SELECT next_month, r_period, r_period_start, source, case_id
FROM (
    SELECT
        next_month, source, case_id, r_period, r_period_start,
        toUInt32(toDateTime(concat(toString(r_period_end), ' 00:00:00'), '{tz}')) > next_start
            AS reaches
    FROM (
        SELECT
            toUInt32(if(m % 100 = 12, m + 89, m + 1)) AS next_month, source, case_id,
            toUInt32(toDateTime(addMonths(toStartOfMonth(toDate(event_time)), 1)))
                AS next_start,
            toDate(event_time, '{tz}') AS day
        FROM (
            SELECT toUInt32(toYYYYMM(event_time)) AS m, event_id, source, case_id, event_time
            FROM {db}.links FINAL
            WHERE toUInt32(toYYYYMM(event_time)) IN (
                SELECT toUInt32(if(month % 100 = 1, month - 89, month - 1))
                FROM {db}.rollup_stale WHERE family = 'intake'
            )
        )
    )
    ARRAY JOIN
        ['day', 'week', 'half_month', 'month'] AS r_period,
        [day, toMonday(day), if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15), toStartOfMonth(day)] AS r_period_start,
        [day + 1, toMonday(day) + 7,
         if(toDayOfMonth(day) <= 15, toStartOfMonth(day) + 15, addMonths(toStartOfMonth(day), 1)),
         addMonths(toStartOfMonth(day), 1)] AS r_period_end
)
WHERE reaches = 1;

CREATE VIEW IF NOT EXISTS {db}.intake_rollup_live AS
SELECT
    month, r_period, r_period_start, source,
    count() AS n_reports,
    countIf(is_new = 1) AS n_new,
    countIf(fixed = 1) AS n_fixed,
    countIf(is_new = 1 AND recurrence_of != 0) AS n_recurrences,
    countIf(late = 1) AS n_late,
    countIf(beyond = 1) AS n_beyond,
    uniqExactIf(case_id, earlier = 0) AS n_cases
FROM (
    SELECT
        month, r_period, r_period_start, source, case_id, is_new, recurrence_of, fixed,
        late, beyond,
        (month, r_period, r_period_start, source, case_id) IN (
            SELECT next_month, r_period, r_period_start, source, case_id
            FROM {db}.intake_rollup_earlier
        ) AS earlier
    FROM (
        SELECT month, source, case_id, is_new, recurrence_of,
            bitAnd(event_flags, 1) AS fixed,
            toUInt8(bitAnd(bitOr(flags, event_flags), 2) = 2) AS late,
            toUInt8(bitAnd(flags, 4) = 4) AS beyond,
            toDate(event_time, '{tz}') AS day
        FROM (
            SELECT toUInt32(toYYYYMM(event_time)) AS month, event_id, source, case_id,
                is_new, recurrence_of, flags, event_time
            FROM {db}.links FINAL
            WHERE toUInt32(toYYYYMM(event_time)) IN (
                SELECT month FROM {db}.rollup_stale WHERE family = 'intake'
            )
        ) AS l
        ANY LEFT JOIN (
            SELECT event_id, flags AS event_flags
            FROM {db}.events FINAL
            WHERE toUInt32(toYYYYMM(event_time)) IN (
                SELECT month FROM {db}.rollup_stale WHERE family = 'intake'
            )
        ) AS e USING event_id
    )
    ARRAY JOIN
        ['day', 'week', 'half_month', 'month'] AS r_period,
        [day, toMonday(day), if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15), toStartOfMonth(day)] AS r_period_start
)
GROUP BY month, r_period, r_period_start, source;

CREATE TABLE IF NOT EXISTS {db}.rollup_intake_rows (
    month UInt32,
    generation UInt64,
    r_period String,
    r_period_start Date,
    source UInt8,
    n_reports UInt64,
    n_new UInt64,
    n_fixed UInt64,
    n_recurrences UInt64,
    n_late UInt64,
    n_beyond UInt64,
    n_cases UInt64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (r_period, r_period_start, source);

CREATE VIEW IF NOT EXISTS {db}.intake_rollup_rows AS
SELECT *
FROM (
    SELECT
        r_period, r_period_start, source, n_reports, n_new, n_fixed, n_recurrences, n_late,
        n_beyond, n_cases
    FROM {db}.rollup_intake_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'intake'
    )
    UNION ALL
    SELECT
        r_period, r_period_start, source, n_reports, n_new, n_fixed, n_recurrences, n_late,
        n_beyond, n_cases
    FROM {db}.intake_rollup_live
);

-- kpi_intake as in 0003 (same rows, same columns), its cases added up over the months.
DROP TABLE IF EXISTS {db}.kpi_intake;

CREATE VIEW IF NOT EXISTS {db}.kpi_intake AS
SELECT
    r_period AS period,
    r_period_start AS period_start,
    source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    sum(n_reports) AS reports,
    sum(n_new) AS new_cases,
    reports - new_cases AS duplicates,
    if(reports = 0, 0., 100. * duplicates / reports) AS duplicate_share,
    sum(n_cases) AS n_cases,
    if(n_cases = 0, 0., reports / n_cases) AS reports_per_case,
    sum(n_fixed) AS fixed_on_spot,
    sum(n_recurrences) AS recurrences,
    sum(n_late) AS late_reports,
    if(reports = 0, 0., 100. * late_reports / reports) AS late_share,
    sum(n_beyond) AS beyond_state
FROM {db}.intake_rollup_rows
GROUP BY r_period, r_period_start, source;

ALTER TABLE {db}.rollup_intake_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN r_period 'day, week, half_month or month',
    COMMENT COLUMN r_period_start 'first day of the period (local)',
    COMMENT COLUMN source 'channel: 0 sensor, 1 hotline, 2 patrol',
    COMMENT COLUMN n_reports 'reports received',
    COMMENT COLUMN n_new 'reports that opened a case',
    COMMENT COLUMN n_fixed 'reports fixed on the spot',
    COMMENT COLUMN n_recurrences 'reports that opened a recurrence',
    COMMENT COLUMN n_late 'reports flagged late',
    COMMENT COLUMN n_beyond 'reports beyond the dedup state',
    COMMENT COLUMN n_cases 'cases the reports joined, counted in the first month partition with a report of theirs in the period and channel';

-- patrol_findings as in 0009 (same rows, same columns), its patrol reports picked before
-- the FINAL merge (PREWHERE) instead of after it: the rows of one event_id are copies of
-- one report (event_id_for hashes its source and the source's own id of it), with the same
-- source and reporter, so every copy of an event is picked or none is, and the merge keeps
-- what it kept. Most events
-- are no patrol report of an inspector with sessions, so most rows are never merged.
DROP TABLE IF EXISTS {db}.patrol_findings;

CREATE VIEW IF NOT EXISTS {db}.patrol_findings AS
SELECT
    event_id,
    argMin(session_id, started_at) AS session_id,
    argMin(department, started_at) AS department,
    any(t) AS event_time,
    any(on_spot) AS fixed
FROM (
    SELECT event_id, reporter AS inspector_id, event_time AS t, bitAnd(flags, 1) AS on_spot
    FROM {db}.events FINAL
    PREWHERE source = 2 AND reporter IN (
        SELECT inspector_id FROM {db}.patrol_sessions
    )
) AS e
ALL INNER JOIN (
    SELECT inspector_id, session_id, department, started_at, ended_at
    FROM {db}.patrol_sessions FINAL
) AS s USING inspector_id
WHERE t >= started_at - 300 AND t <= ended_at + 300
GROUP BY event_id;
