-- kpi_durations from its own result rows (docs/bi/rollups.md, "Durations: the result rows
-- per period"): exact medians and 90th percentiles do not add up over months, but a period
-- (a local day, week or month) spans at most two month partitions of `cases`: the one its
-- first instant falls in (M) and the next (a period is at most 31 days long, a month
-- partition at least 28, and the district's offset from the server's time is hours). So
-- family 'durations' stores, under month M, the finished view rows of every period whose
-- first instant lies in partition M, computed from the cases of M and M + 1; M's signature
-- holds both partitions. Then (at the end of the file) kpi_returns reads its categories from
-- case_facts, intake_minute its rollup rows without a GROUP BY, and the patrol views a new
-- family 'patrols' (visits per inspector, grid and day). Placeholders: {db}, {tz}.

DROP TABLE IF EXISTS {db}.rollup_signatures;

-- As in 0017, plus family 'durations': partition p of `cases` is read by month p's periods
-- and by month p - 1's (those reaching into p). Only `cases`: kpi_durations reads no column
-- of `dispatches` (a new dispatch leaves its rows as they are). And family 'patrols': the
-- month partitions of `patrol_visits` (a visit never leaves the month of its visited_at).
CREATE VIEW IF NOT EXISTS {db}.rollup_signatures AS
SELECT family, month, arrayStringConcat(arraySort(groupArray(part)), ',') AS signature
FROM (
    SELECT tupleElement(fm, 1) AS family, tupleElement(fm, 2) AS month, part
    FROM (
        SELECT
            table,
            toUInt32(partition_id) AS p,
            toUInt32(if(p % 100 = 12, p + 89, p + 1)) AS next_p,
            toUInt32(if(p % 100 = 1, p - 89, p - 1)) AS prev_p,
            concat(table, '@', partition_id, ':', toString(max(max_block_number)), ':',
                toString(max(if(data_version != min_block_number, data_version, 0)))) AS part
        FROM system.parts
        WHERE database = '{db}' AND active
            AND table IN ('cases', 'dispatches', 'links', 'events', 'escalations', 'verify_tasks',
                'patrol_visits')
        GROUP BY table, partition_id
    )
    ARRAY JOIN multiIf(
        table = 'cases', [('cases', p), ('facts', p), ('durations', p), ('durations', prev_p)],
        table = 'dispatches', [('cases', p), ('facts', p)],
        table = 'links', [('intake', p), ('intake', next_p), ('reports', p)],
        table = 'events', [('intake', p), ('minutes', p), ('reports', p)],
        table = 'verify_tasks', [('verification', p)],
        table = 'patrol_visits', [('patrols', p)],
        [('escalations', p)]) AS fm
)
GROUP BY family, month;

-- The case columns kpi_durations reads, of the partitions the stale durations months need
-- (each stale month and the next): case_facts' rows (0017, the latest version of each
-- case), the fresh facts months' stored ones and the others' from `cases FINAL` (the
-- columns needed come from `cases` alone, so not fact_rollup_live: it joins `dispatches`
-- too). The month filter is in each branch, where it prunes partitions (over the UNION ALL
-- it would be applied after every stored row is read).
CREATE VIEW IF NOT EXISTS {db}.duration_rollup_months AS
SELECT arrayJoin([month, toUInt32(if(month % 100 = 12, month + 89, month + 1))]) AS month
FROM {db}.rollup_stale
WHERE family = 'durations';

CREATE VIEW IF NOT EXISTS {db}.duration_rollup_cases AS
SELECT department, status, opened_at, dispatched_at, signed_at, handled_at, closed_at
FROM {db}.rollup_fact_rows
WHERE month IN (SELECT month FROM {db}.duration_rollup_months)
    AND (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'facts'
    )
UNION ALL
SELECT department, status, opened_at, dispatched_at, signed_at, handled_at, closed_at
FROM {db}.cases FINAL
WHERE toUInt32(toYYYYMM(opened_at)) IN (SELECT month FROM {db}.duration_rollup_months)
    AND toUInt32(toYYYYMM(opened_at)) IN (
        SELECT month FROM {db}.rollup_stale WHERE family = 'facts'
    );

-- kpi_durations' rows (0002) of the periods starting in a stale month: computed over the
-- cases of that month and the next, grouped, then kept if the period's first instant (the
-- district's midnight) lies in a stale month partition (at the server's time, as
-- toYYYYMM(opened_at) partitions `cases`). A group of a period starting in a fresh month
-- may have only some of its cases here: it is dropped, the rollup holds it whole.
CREATE VIEW IF NOT EXISTS {db}.duration_rollup_live AS
SELECT *
FROM (
    SELECT
        toUInt32(toYYYYMM(toDateTime(toUInt32(
            toDateTime(concat(toString(period_start), ' 00:00:00'), '{tz}'))))) AS month,
        period, period_start, department,
        count() AS cases,
        countIf(sign_min >= 0) AS signed,
        countIf(handle_min >= 0) AS handled,
        countIf(close_min >= 0) AS closed,
        if(signed = 0, 0., quantileExactIf(0.5)(sign_min, sign_min >= 0)) AS sign_median_min,
        if(signed = 0, 0., quantileExactIf(0.9)(sign_min, sign_min >= 0)) AS sign_p90_min,
        if(handled = 0, 0., quantileExactIf(0.5)(handle_min, handle_min >= 0))
            AS handle_median_min,
        if(handled = 0, 0., quantileExactIf(0.9)(handle_min, handle_min >= 0)) AS handle_p90_min,
        if(closed = 0, 0., quantileExactIf(0.5)(close_min, close_min >= 0)) AS close_median_min,
        if(closed = 0, 0., quantileExactIf(0.9)(close_min, close_min >= 0)) AS close_p90_min
    FROM (
        SELECT
            department,
            toDate(opened_at, '{tz}') AS day,
            if(signed_at > toDateTime(0) AND dispatched_at > toDateTime(0),
               (toInt64(signed_at) - toInt64(dispatched_at)) / 60., -1.) AS sign_min,
            if(handled_at > toDateTime(0) AND dispatched_at > toDateTime(0),
               (toInt64(handled_at) - toInt64(dispatched_at)) / 60., -1.) AS handle_min,
            if(closed_at > toDateTime(0),
               (toInt64(closed_at) - toInt64(opened_at)) / 60., -1.) AS close_min
        FROM {db}.duration_rollup_cases
        WHERE status != 'voided' AND department != ''
    )
    ARRAY JOIN
        ['day', 'week', 'month'] AS period,
        [day, toMonday(day), toStartOfMonth(day)] AS period_start
    GROUP BY period, period_start, department
)
WHERE month IN (SELECT month FROM {db}.rollup_stale WHERE family = 'durations');

CREATE TABLE IF NOT EXISTS {db}.rollup_duration_rows (
    month UInt32,
    generation UInt64,
    period String,
    period_start Date,
    department String,
    cases UInt64,
    signed UInt64,
    handled UInt64,
    closed UInt64,
    sign_median_min Float64,
    sign_p90_min Float64,
    handle_median_min Float64,
    handle_p90_min Float64,
    close_median_min Float64,
    close_p90_min Float64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (period, period_start, department);

-- kpi_durations as in 0002 (same rows, same columns): the fresh months' stored rows and
-- the stale months' live ones. Each period is in exactly one month (its first instant's).
DROP TABLE IF EXISTS {db}.kpi_durations;

CREATE VIEW IF NOT EXISTS {db}.kpi_durations AS
SELECT
    period, period_start, department, cases, signed, handled, closed,
    sign_median_min, sign_p90_min, handle_median_min, handle_p90_min,
    close_median_min, close_p90_min
FROM (
    SELECT
        period, period_start, department, cases, signed, handled, closed,
        sign_median_min, sign_p90_min, handle_median_min, handle_p90_min,
        close_median_min, close_p90_min
    FROM {db}.rollup_duration_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'durations'
    )
    UNION ALL
    SELECT
        period, period_start, department, cases, signed, handled, closed,
        sign_median_min, sign_p90_min, handle_median_min, handle_p90_min,
        close_median_min, close_p90_min
    FROM {db}.duration_rollup_live
);

ALTER TABLE {db}.rollup_duration_rows
    COMMENT COLUMN month 'month (YYYYMM) of the cases partition the period starts in (its rows read that partition and the next)',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN period 'day, week or month',
    COMMENT COLUMN period_start 'first day of the period (local)',
    COMMENT COLUMN department 'department in charge',
    COMMENT COLUMN cases 'non-voided cases opened in the period',
    COMMENT COLUMN signed 'of them, signed for',
    COMMENT COLUMN handled 'of them, handled',
    COMMENT COLUMN closed 'of them, closed',
    COMMENT COLUMN sign_median_min 'median minutes from dispatch to signing (0: none signed)',
    COMMENT COLUMN sign_p90_min '90th percentile minutes from dispatch to signing',
    COMMENT COLUMN handle_median_min 'median minutes from dispatch to handling (0: none handled)',
    COMMENT COLUMN handle_p90_min '90th percentile minutes from dispatch to handling',
    COMMENT COLUMN close_median_min 'median minutes from opening to closure (0: none closed)',
    COMMENT COLUMN close_p90_min '90th percentile minutes from opening to closure';

-- kpi_returns as in 0005 (same rows, same columns), the category of each step's case read
-- from case_facts (0017: one row per case, its latest version, the fresh months' stored
-- rows) and only for the cases with a counted step, instead of a merge of every case
-- version (`cases FINAL`, 1.1 s at 10 M events whatever the steps). The join still adds
-- columns only: case_facts holds the same (case_id, category_key) as `cases FINAL`.
DROP TABLE IF EXISTS {db}.kpi_returns;

CREATE VIEW IF NOT EXISTS {db}.kpi_returns AS
SELECT
    period, period_start, level, unit,
    sum(dispatched) AS dispatched,
    sum(returned) AS returned,
    if(dispatched = 0, 0., 100. * returned / dispatched) AS return_rate
FROM (
    SELECT period, period_start, department, category_key, dispatched, returned
    FROM (
        SELECT
            department, category_key,
            toUInt8(action IN ('dispatch', 'redispatch')) AS dispatched,
            toUInt8(action = 'return') AS returned,
            toDate(ts, '{tz}') AS day
        FROM {db}.case_stages FINAL
        ANY LEFT JOIN (
            SELECT case_id, category_key FROM {db}.case_facts
            WHERE case_id IN (
                SELECT case_id FROM {db}.case_stages
                WHERE action IN ('dispatch', 'redispatch', 'return')
            )
        ) AS c USING case_id
        WHERE action IN ('dispatch', 'redispatch', 'return')
    )
    ARRAY JOIN
        ['day', 'week', 'month'] AS period,
        [day, toMonday(day), toStartOfMonth(day)] AS period_start
)
ARRAY JOIN
    ['department', 'category', 'district'] AS level,
    [department, category_key, ''] AS unit
WHERE NOT (level != 'district' AND unit = '')
GROUP BY period, period_start, level, unit;

-- intake_minute as in 0015 (same rows, same columns) without its GROUP BY: a minute lies in
-- one month partition (minute and partition both at the server's time), the live rows are
-- grouped per (month, minute, source) and a refresh stores them once per generation, so
-- each (minute, source) already is one row of the fresh or the stale months (the sum over
-- 390 k rows at 10 M events was most of the view's 0.7 s).
DROP TABLE IF EXISTS {db}.intake_minute;

CREATE VIEW IF NOT EXISTS {db}.intake_minute AS
SELECT
    minute,
    source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    n_events AS events,
    n_fixed AS fixed_on_spot,
    n_late AS late
FROM {db}.minute_rollup_rows;

-- The patrols family (kpi_patrol_coverage, kpi_patrol_grids): per month partition of
-- `patrol_visits`, its distinct visits counted per inspector, role, department, grid (with
-- its street and community) and local day. The views count distinct days, grids and
-- inspectors over these rows (the values themselves, exact over any months) and add the
-- visits up (a visit is in one partition: its key holds visited_at). 1.7 M visits at 10 M
-- events are 27 k rows; the views merged every visit (`FINAL`) at each query.
CREATE VIEW IF NOT EXISTS {db}.patrol_rollup_live AS
SELECT
    toUInt32(toYYYYMM(visited_at)) AS month,
    inspector_id, role, department, street, community, grid_code,
    toDate(visited_at, '{tz}') AS day,
    count() AS n_visits
FROM {db}.patrol_visits FINAL
WHERE toUInt32(toYYYYMM(visited_at)) IN (
    SELECT month FROM {db}.rollup_stale WHERE family = 'patrols'
)
GROUP BY month, inspector_id, role, department, street, community, grid_code, day;

CREATE TABLE IF NOT EXISTS {db}.rollup_patrol_rows (
    month UInt32,
    generation UInt64,
    inspector_id String,
    role String,
    department String,
    street String,
    community String,
    grid_code String,
    day Date,
    n_visits UInt64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (day, inspector_id, grid_code);

CREATE VIEW IF NOT EXISTS {db}.patrol_rollup_rows AS
SELECT inspector_id, role, department, street, community, grid_code, day, n_visits
FROM {db}.rollup_patrol_rows
WHERE (month, generation) IN (
    SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'patrols'
)
UNION ALL
SELECT inspector_id, role, department, street, community, grid_code, day, n_visits
FROM {db}.patrol_rollup_live;

-- kpi_patrol_coverage and kpi_patrol_grids as in 0002 (same rows, same columns), from the
-- patrol rollup rows.
DROP TABLE IF EXISTS {db}.kpi_patrol_coverage;

CREATE VIEW IF NOT EXISTS {db}.kpi_patrol_coverage AS
SELECT
    week_start, inspector_id, role, department, patrol_days, grids_visited, visits,
    min_days_per_week AS required_days,
    toUInt8(patrol_days >= min_days_per_week) AS met
FROM (
    SELECT
        toMonday(day) AS week_start, inspector_id, role,
        any(department) AS department,
        uniqExact(day) AS patrol_days,
        uniqExact(grid_code) AS grids_visited,
        sum(n_visits) AS visits
    FROM {db}.patrol_rollup_rows
    GROUP BY week_start, inspector_id, role
) AS v
ANY LEFT JOIN (
    SELECT role, min_days_per_week FROM {db}.patrol_rules FINAL
) AS r USING role;

DROP TABLE IF EXISTS {db}.kpi_patrol_grids;

CREATE VIEW IF NOT EXISTS {db}.kpi_patrol_grids AS
SELECT
    toMonday(day) AS week_start, street, community,
    uniqExact(grid_code) AS grids_visited,
    uniqExact(inspector_id) AS inspectors,
    sum(n_visits) AS visits
FROM {db}.patrol_rollup_rows
GROUP BY week_start, street, community;

ALTER TABLE {db}.rollup_patrol_rows
    COMMENT COLUMN month 'month (YYYYMM) of the patrol_visits partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN inspector_id 'the inspector',
    COMMENT COLUMN role 'the inspector\'s role',
    COMMENT COLUMN department 'the inspector\'s department',
    COMMENT COLUMN street 'street (街道) code of the grid',
    COMMENT COLUMN community 'community (社区) code of the grid',
    COMMENT COLUMN grid_code 'the unit grid visited',
    COMMENT COLUMN day 'local day of the visits',
    COMMENT COLUMN n_visits 'distinct visits (inspector, grid, time) that day';
