-- Rollups for BI (docs/bi/rollups.md): the busiest KPI views pre-aggregated per source
-- partition by a refresh job (sinks/rollups.py, `citystream db rollup`), read beside a live
-- computation of the partitions written since, so every view answers as before, whatever
-- the job did. Placeholders: {db}, {tz}.
--
-- The watermark of a rollup is, per month partition of its source tables, the partition's
-- signature in system.parts: the highest block number of its active parts and the highest
-- mutation applied to them (a part's data_version when it differs from its first block).
-- An insert (a replay too), a mutation, an attach or a drop of the newest part changes
-- it; a background merge does not (its part spans the same blocks and mutations). A
-- (non-replicated) MergeTree numbers a part when it commits it, under the table's lock, so
-- a part that commits after a signature was read has a higher number. A month
-- whose signature still equals the one recorded at its refresh is "fresh" and read from
-- the rollup; every other month ("stale") is computed from the raw rows. Cases
-- and dispatches share the month of the case's opened_at (a dispatch carries its case's
-- opening), so a month's case KPIs depend on that month's partitions of both only; links
-- and events share the month of the event's event_time (family 'intake'; events alone:
-- 'minutes'), an escalation never leaves the month it was raised in ('escalations') nor a
-- verify task the month it was issued in ('verification').

-- One row per refresh of a month of a rollup family: the signature it was computed from.
CREATE TABLE IF NOT EXISTS {db}.rollup_generations (
    family String,
    month UInt32,
    generation UInt64,
    signature String
) ENGINE = ReplacingMergeTree(generation)
ORDER BY (family, month);

-- The sources' month partitions as they are now.
CREATE VIEW IF NOT EXISTS {db}.rollup_signatures AS
SELECT family, month, arrayStringConcat(arraySort(groupArray(part)), ',') AS signature
FROM (
    SELECT
        arrayJoin(multiIf(
            table IN ('cases', 'dispatches'), ['cases'],
            table = 'links', ['intake'],
            table = 'events', ['intake', 'minutes'],
            table = 'verify_tasks', ['verification'],
            ['escalations'])) AS family,
        toUInt32(partition_id) AS month,
        concat(table, ':', toString(max(max_block_number)), ':', toString(max(
            if(data_version != min_block_number, data_version, 0)))) AS part
    FROM system.parts
    WHERE database = '{db}' AND active
        AND table IN ('cases', 'dispatches', 'links', 'events', 'escalations', 'verify_tasks')
    GROUP BY table, partition_id
)
GROUP BY family, month;

-- The months whose latest refresh is still current: their rollup rows are the KPIs.
CREATE VIEW IF NOT EXISTS {db}.rollup_fresh AS
SELECT family, month, latest AS generation
FROM (
    SELECT family, month, max(generation) AS latest, argMax(signature, generation) AS recorded
    FROM {db}.rollup_generations
    GROUP BY family, month
) AS g
ANY INNER JOIN (
    SELECT family, month, signature AS current FROM {db}.rollup_signatures
) AS s USING (family, month)
WHERE recorded = current;

-- The months with data and no current refresh: computed from the raw rows.
CREATE VIEW IF NOT EXISTS {db}.rollup_stale AS
SELECT family, month
FROM {db}.rollup_signatures
WHERE (family, month) NOT IN (SELECT family, month FROM {db}.rollup_fresh);

-- Case KPI rows of the stale months, as the refresh job stores them (the building block of
-- kpi_case_counts, 0002): per month (of opened_at), period and unit grid, the milestone
-- counts; plus one `pending` row per case that is not due yet only because its deadline is
-- still ahead (not handled, not voided, deadline after now): it becomes due at its deadline
-- without any new row, so kpi_case_counts counts it when now() has passed the deadline.
CREATE VIEW IF NOT EXISTS {db}.case_rollup_live AS
SELECT
    month, pending, r_period, r_period_start, department, street, community, grid_code,
    r_deadline,
    sum(d_opened) AS n_opened,
    sum(d_due) AS n_due,
    sum(d_handled) AS n_handled,
    sum(d_handled_on_time) AS n_handled_on_time,
    sum(d_closed) AS n_closed,
    sum(d_closed_on_time) AS n_closed_on_time,
    sum(d_reworked) AS n_reworked,
    sum(d_dispatched) AS n_dispatched,
    sum(d_dispatched_on_time) AS n_dispatched_on_time,
    sum(d_closed_in_period) AS n_closed_in_period,
    sum(d_recurrences) AS n_recurrences,
    sum(d_sum_lat) AS sum_lat,
    sum(d_sum_lon) AS sum_lon
FROM (
    -- per local day first (a few rows per grid and day), the periods after
    SELECT
        month, toUInt8(kind = 5) AS pending, department, street, community, grid_code,
        if(kind = 5, at, toDateTime(0)) AS r_deadline,
        toDate(at, '{tz}') AS day,
        countIf(kind = 1) AS d_opened,
        countIf(kind IN (2, 5)) AS d_due,
        countIf(kind = 2 AND is_handled = 1) AS d_handled,
        countIf(kind = 2 AND handled_on_time = 1) AS d_handled_on_time,
        countIf(kind IN (2, 5) AND is_closed = 1) AS d_closed,
        countIf(kind = 2 AND closed_on_time = 1) AS d_closed_on_time,
        countIf(kind IN (2, 5) AND reworked = 1) AS d_reworked,
        countIf(kind = 3) AS d_dispatched,
        countIf(kind = 3 AND dispatched_on_time = 1) AS d_dispatched_on_time,
        countIf(kind = 4) AS d_closed_in_period,
        countIf(kind = 1 AND recurrence_of != 0) AS d_recurrences,
        sumIf(lat, kind = 1) AS d_sum_lat,
        sumIf(lon, kind = 1) AS d_sum_lon
    FROM (
        SELECT
            month, department, street, community, grid_code, lat, lon, is_handled,
            handled_on_time, is_closed, closed_on_time, reworked, dispatched_on_time,
            recurrence_of,
            arrayJoin(arrayFilter(x -> tupleElement(x, 2) > toDateTime(0), [
                (toUInt8(1), if(voided = 1, toDateTime(0), opened_at)),
                (toUInt8(2), due_at),
                (toUInt8(3), if(voided = 1, toDateTime(0), dispatched_at)),
                (toUInt8(4), if(voided = 1, toDateTime(0), closed_at)),
                (toUInt8(5), if(waiting = 1, deadline, toDateTime(0)))
            ])) AS milestone,
            tupleElement(milestone, 1) AS kind,
            tupleElement(milestone, 2) AS at
        FROM (
            SELECT
                month, department, grid_code, community, street, lat, lon, deadline,
                opened_at, dispatched_at, closed_at, rework_count, recurrence_of,
                dispatched_on_time,
                toUInt8(status = 'voided') AS voided,
                toUInt8(closed_at > toDateTime(0) AND dispatched_at = toDateTime(0))
                    AS closed_on_spot,
                if(closed_on_spot = 1, closed_at, handled_at) AS handled_eff,
                toUInt8(handled_eff > toDateTime(0)) AS is_handled,
                toUInt8(closed_at > toDateTime(0)) AS is_closed,
                toUInt8(is_handled = 1 AND (closed_on_spot = 1 OR handled_eff <= deadline))
                    AS handled_on_time,
                toUInt8(is_closed = 1 AND handled_on_time = 1) AS closed_on_time,
                toUInt8(rework_count > 0) AS reworked,
                multiIf(
                    voided = 1, toDateTime(0),
                    closed_on_spot = 1, closed_at,
                    is_handled = 1 AND deadline > toDateTime(0), least(handled_eff, deadline),
                    is_handled = 1, handled_eff,
                    deadline > toDateTime(0) AND deadline <= now(), deadline,
                    toDateTime(0)) AS due_at,
                toUInt8(voided = 0 AND closed_on_spot = 0 AND is_handled = 0
                    AND deadline > now()) AS waiting
            FROM (
                SELECT
                    toUInt32(toYYYYMM(opened_at)) AS month, case_id, department, grid_code,
                    community, street, lat, lon, opened_at, dispatched_at, deadline,
                    handled_at, closed_at, status, rework_count, recurrence_of
                FROM {db}.cases FINAL
                WHERE toUInt32(toYYYYMM(opened_at)) IN (
                    SELECT month FROM {db}.rollup_stale WHERE family = 'cases'
                )
            ) AS c
            ANY LEFT JOIN (
                SELECT case_id, dispatched_on_time
                FROM {db}.dispatches FINAL
                WHERE toUInt32(toYYYYMM(opened_at)) IN (
                    SELECT month FROM {db}.rollup_stale WHERE family = 'cases'
                )
            ) AS d USING case_id
        )
    )
    GROUP BY month, pending, department, street, community, grid_code, r_deadline, day
)
ARRAY JOIN
    if(pending = 1, [''], ['day', 'week', 'half_month', 'month']) AS r_period,
    if(pending = 1, [toDate(0)], [day, toMonday(day), if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15), toStartOfMonth(day)]) AS r_period_start
GROUP BY
    month, pending, r_period, r_period_start, department, street, community, grid_code,
    r_deadline;

-- What the refresh job stores: the rows of case_rollup_live of the months it refreshed,
-- one partition per (month, generation), so a superseded refresh is dropped whole.
CREATE TABLE IF NOT EXISTS {db}.rollup_case_rows (
    month UInt32,
    generation UInt64,
    pending UInt8,
    r_period String,
    r_period_start Date,
    department String,
    street String,
    community String,
    grid_code String,
    r_deadline DateTime,
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

-- The case KPI rows in force: the fresh months' latest refresh and the stale months' live.
CREATE VIEW IF NOT EXISTS {db}.case_rollup_rows AS
SELECT *
FROM (
    SELECT
        pending, r_period, r_period_start, department, street, community, grid_code,
        r_deadline, n_opened, n_due, n_handled, n_handled_on_time, n_closed,
        n_closed_on_time, n_reworked, n_dispatched, n_dispatched_on_time, n_closed_in_period,
        n_recurrences, sum_lat, sum_lon
    FROM {db}.rollup_case_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'cases'
    )
    UNION ALL
    SELECT
        pending, r_period, r_period_start, department, street, community, grid_code,
        r_deadline, n_opened, n_due, n_handled, n_handled_on_time, n_closed,
        n_closed_on_time, n_reworked, n_dispatched, n_dispatched_on_time, n_closed_in_period,
        n_recurrences, sum_lat, sum_lon
    FROM {db}.case_rollup_live
);

-- kpi_case_counts as in 0002 (same rows, same columns), now summed from the fresh months'
-- rollup rows and the stale months' live rows; a pending case counts as due (and closed
-- or reworked, as it is) in the periods of its deadline once that has passed.
DROP TABLE IF EXISTS {db}.kpi_case_counts;

CREATE VIEW IF NOT EXISTS {db}.kpi_case_counts AS
SELECT
    period, period_start, department, street, community, grid_code,
    sum(n_opened) AS n_opened,
    sum(n_due) AS n_due,
    sum(n_handled) AS n_handled,
    sum(n_handled_on_time) AS n_handled_on_time,
    sum(n_closed) AS n_closed,
    sum(n_closed_on_time) AS n_closed_on_time,
    sum(n_reworked) AS n_reworked,
    sum(n_dispatched) AS n_dispatched,
    sum(n_dispatched_on_time) AS n_dispatched_on_time,
    sum(n_closed_in_period) AS n_closed_in_period,
    sum(n_recurrences) AS n_recurrences
FROM (
    SELECT *, toDate(r_deadline, '{tz}') AS due_day
    FROM {db}.case_rollup_rows
    WHERE pending = 0 OR r_deadline <= now()
)
ARRAY JOIN
    if(pending = 1, ['day', 'week', 'half_month', 'month'], [r_period]) AS period,
    if(pending = 1, [due_day, toMonday(due_day), if(toDayOfMonth(due_day) <= 15, toStartOfMonth(due_day), toStartOfMonth(due_day) + 15), toStartOfMonth(due_day)], [r_period_start])
        AS period_start
GROUP BY period, period_start, department, street, community, grid_code;

-- kpi_hotspots as in 0002 (same rows, same columns) from the same rows: a unit grid's cases
-- opened (not voided) in the period, their recurrences and mean position.
DROP TABLE IF EXISTS {db}.kpi_hotspots;

CREATE VIEW IF NOT EXISTS {db}.kpi_hotspots AS
SELECT
    r_period AS period,
    r_period_start AS period_start,
    grid_code,
    anyIf(community, n_opened > 0) AS community_code,
    anyIf(street, n_opened > 0) AS street_code,
    sum(n_opened) AS cases,
    sum(n_recurrences) AS recurrences,
    sum(sum_lat) / cases AS mean_lat,
    sum(sum_lon) / cases AS mean_lon
FROM {db}.case_rollup_rows
WHERE pending = 0
GROUP BY r_period, r_period_start, grid_code
HAVING cases > 0;

-- The intake family (kpi_intake) in the same way: per month (of event_time), period and
-- channel, the report counts and the set of cases (uniqExact states: a case's reports can
-- fall in two months of one week, so case counts are merged, not added).
CREATE VIEW IF NOT EXISTS {db}.intake_rollup_live AS
SELECT
    month, r_period, r_period_start, source,
    count() AS n_reports,
    countIf(is_new = 1) AS n_new,
    countIf(fixed = 1) AS n_fixed,
    countIf(is_new = 1 AND recurrence_of != 0) AS n_recurrences,
    countIf(late = 1) AS n_late,
    countIf(beyond = 1) AS n_beyond,
    uniqExactState(case_id) AS cases
FROM (
    SELECT month, source, case_id, is_new, recurrence_of, bitAnd(event_flags, 1) AS fixed,
        toUInt8(bitAnd(bitOr(flags, event_flags), 2) = 2) AS late,
        toUInt8(bitAnd(flags, 4) = 4) AS beyond,
        toDate(event_time, '{tz}') AS day
    FROM (
        SELECT toUInt32(toYYYYMM(event_time)) AS month, event_id, source, case_id, is_new,
            recurrence_of, flags, event_time
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
    cases AggregateFunction(uniqExact, UInt64)
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (r_period, r_period_start, source);

CREATE VIEW IF NOT EXISTS {db}.intake_rollup_rows AS
SELECT *
FROM (
    SELECT
        r_period, r_period_start, source, n_reports, n_new, n_fixed, n_recurrences, n_late,
        n_beyond, cases
    FROM {db}.rollup_intake_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'intake'
    )
    UNION ALL
    SELECT
        r_period, r_period_start, source, n_reports, n_new, n_fixed, n_recurrences, n_late,
        n_beyond, cases
    FROM {db}.intake_rollup_live
);

-- kpi_intake as in 0003 (same rows, same columns), from the intake rollup rows.
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
    uniqExactMerge(cases) AS n_cases,
    if(n_cases = 0, 0., reports / n_cases) AS reports_per_case,
    sum(n_fixed) AS fixed_on_spot,
    sum(n_recurrences) AS recurrences,
    sum(n_late) AS late_reports,
    if(reports = 0, 0., 100. * late_reports / reports) AS late_share,
    sum(n_beyond) AS beyond_state
FROM {db}.intake_rollup_rows
GROUP BY r_period, r_period_start, source;

-- The escalations family (kpi_escalations): an escalation counts once, in the periods of
-- its escalated_at, which also fixes its month partition, so months add up.
CREATE VIEW IF NOT EXISTS {db}.escalation_rollup_live AS
SELECT month, r_period, r_period_start, department, level, count() AS n_escalations
FROM (
    SELECT month, r_period, r_period_start, dept, level
    FROM (
        SELECT toUInt32(toYYYYMM(escalated_at)) AS month, department AS dept, level,
            toDate(escalated_at, '{tz}') AS day
        FROM {db}.escalations FINAL
        WHERE toUInt32(toYYYYMM(escalated_at)) IN (
            SELECT month FROM {db}.rollup_stale WHERE family = 'escalations'
        )
    )
    ARRAY JOIN
        ['day', 'week', 'half_month', 'month'] AS r_period,
        [day, toMonday(day), if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15), toStartOfMonth(day)] AS r_period_start
)
ARRAY JOIN [dept, ''] AS department
GROUP BY month, r_period, r_period_start, department, level;

CREATE TABLE IF NOT EXISTS {db}.rollup_escalation_rows (
    month UInt32,
    generation UInt64,
    r_period String,
    r_period_start Date,
    department String,
    level String,
    n_escalations UInt64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (r_period, r_period_start, department, level);

CREATE VIEW IF NOT EXISTS {db}.escalation_rollup_rows AS
SELECT *
FROM (
    SELECT r_period, r_period_start, department, level, n_escalations
    FROM {db}.rollup_escalation_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'escalations'
    )
    UNION ALL
    SELECT r_period, r_period_start, department, level, n_escalations
    FROM {db}.escalation_rollup_live
);

-- kpi_escalations as in 0010 (same rows, same columns), from the escalation rollup rows.
DROP TABLE IF EXISTS {db}.kpi_escalations;

CREATE VIEW IF NOT EXISTS {db}.kpi_escalations AS
SELECT
    r_period AS period,
    r_period_start AS period_start,
    department,
    level,
    sum(n_escalations) AS escalations
FROM {db}.escalation_rollup_rows
GROUP BY r_period, r_period_start, department, level;

-- The minutes family (intake_minute): a UTC minute never straddles a month partition.
CREATE VIEW IF NOT EXISTS {db}.minute_rollup_live AS
SELECT
    toUInt32(toYYYYMM(event_time)) AS month,
    toStartOfMinute(event_time) AS minute,
    source,
    count() AS n_events,
    countIf(bitAnd(flags, 1) = 1) AS n_fixed,
    countIf(bitAnd(flags, 2) = 2) AS n_late
FROM {db}.events FINAL
WHERE toUInt32(toYYYYMM(event_time)) IN (
    SELECT month FROM {db}.rollup_stale WHERE family = 'minutes'
)
GROUP BY month, minute, source;

CREATE TABLE IF NOT EXISTS {db}.rollup_minute_rows (
    month UInt32,
    generation UInt64,
    minute DateTime,
    source UInt8,
    n_events UInt64,
    n_fixed UInt64,
    n_late UInt64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (minute, source);

CREATE VIEW IF NOT EXISTS {db}.minute_rollup_rows AS
SELECT *
FROM (
    SELECT minute, source, n_events, n_fixed, n_late
    FROM {db}.rollup_minute_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'minutes'
    )
    UNION ALL
    SELECT minute, source, n_events, n_fixed, n_late
    FROM {db}.minute_rollup_live
);

-- intake_minute as in 0003 (same rows, same columns), from the minute rollup rows.
DROP TABLE IF EXISTS {db}.intake_minute;

CREATE VIEW IF NOT EXISTS {db}.intake_minute AS
SELECT
    minute,
    source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    sum(n_events) AS events,
    sum(n_fixed) AS fixed_on_spot,
    sum(n_late) AS late
FROM {db}.minute_rollup_rows
GROUP BY minute, source;

-- The verification family (kpi_verification), per unit of a task (its department, grid,
-- street and supervisor; the levels are spread at query time). Like the cases, an open
-- task whose due time is still ahead is kept as a pending row, due once now() passes it.
CREATE VIEW IF NOT EXISTS {db}.verification_rollup_live AS
SELECT
    month, pending, r_period, r_period_start, department, grid_code, street, supervisor,
    r_due, count() AS n_due, sum(verified) AS n_verified, sum(on_time) AS n_on_time,
    sum(passed) AS n_passed, sum(failed) AS n_failed
FROM (
    SELECT
        month, department, grid_code, street, supervisor, verified, on_time, passed, failed,
        waiting AS pending,
        if(pending = 1, due_at, toDateTime(0)) AS r_due,
        toDate(due_time, '{tz}') AS day
    FROM (
        SELECT
            toUInt32(toYYYYMM(issued_at)) AS month, department, grid_code, street,
            supervisor, due_at,
            toUInt8(status = 'passed') AS passed,
            toUInt8(status = 'failed') AS failed,
            toUInt8(passed = 1 OR failed = 1) AS verified,
            toUInt8(verified = 1 AND settled_at <= due_at) AS on_time,
            multiIf(
                status = 'voided', toDateTime(0),
                verified = 1, least(settled_at, due_at),
                due_at <= now(), due_at,
                toDateTime(0)) AS due_time,
            toUInt8(status != 'voided' AND verified = 0 AND due_at > now()) AS waiting
        FROM {db}.verify_tasks FINAL
        WHERE toUInt32(toYYYYMM(issued_at)) IN (
            SELECT month FROM {db}.rollup_stale WHERE family = 'verification'
        )
    )
    WHERE due_time > toDateTime(0) OR waiting = 1
)
ARRAY JOIN
    if(pending = 1, [''], ['day', 'week', 'month']) AS r_period,
    if(pending = 1, [toDate(0)], [day, toMonday(day), toStartOfMonth(day)]) AS r_period_start
GROUP BY
    month, pending, r_period, r_period_start, department, grid_code, street, supervisor,
    r_due;

CREATE TABLE IF NOT EXISTS {db}.rollup_verification_rows (
    month UInt32,
    generation UInt64,
    pending UInt8,
    r_period String,
    r_period_start Date,
    department String,
    grid_code String,
    street String,
    supervisor String,
    r_due DateTime,
    n_due UInt64,
    n_verified UInt64,
    n_on_time UInt64,
    n_passed UInt64,
    n_failed UInt64
) ENGINE = MergeTree()
PARTITION BY (month, generation)
ORDER BY (pending, r_period, r_period_start, department, grid_code, r_due);

CREATE VIEW IF NOT EXISTS {db}.verification_rollup_rows AS
SELECT *
FROM (
    SELECT
        pending, r_period, r_period_start, department, grid_code, street, supervisor, r_due,
        n_due, n_verified, n_on_time, n_passed, n_failed
    FROM {db}.rollup_verification_rows
    WHERE (month, generation) IN (
        SELECT month, generation FROM {db}.rollup_fresh WHERE family = 'verification'
    )
    UNION ALL
    SELECT
        pending, r_period, r_period_start, department, grid_code, street, supervisor, r_due,
        n_due, n_verified, n_on_time, n_passed, n_failed
    FROM {db}.verification_rollup_live
);

-- kpi_verification as in 0004 (same rows, same columns), from the verification rollup rows;
-- a pending task counts as due (not verified) in the periods of its due time once passed.
DROP TABLE IF EXISTS {db}.kpi_verification;

CREATE VIEW IF NOT EXISTS {db}.kpi_verification AS
SELECT
    period, period_start, level, unit,
    sum(n_due) AS due,
    sum(n_verified) AS verified,
    sum(n_on_time) AS verified_on_time,
    sum(n_passed) AS passed,
    sum(n_failed) AS failed,
    if(due = 0, 0., 100. * verified_on_time / due) AS on_time_verification_rate,
    if(verified = 0, 0., 100. * failed / verified) AS fail_rate
FROM (
    SELECT
        period, period_start, department, grid_code, street, supervisor, n_due, n_verified,
        n_on_time, n_passed, n_failed
    FROM (
        SELECT *, toDate(r_due, '{tz}') AS due_day
        FROM {db}.verification_rollup_rows
        WHERE pending = 0 OR r_due <= now()
    )
    ARRAY JOIN
        if(pending = 1, ['day', 'week', 'month'], [r_period]) AS period,
        if(pending = 1, [due_day, toMonday(due_day), toStartOfMonth(due_day)],
           [r_period_start]) AS period_start
)
ARRAY JOIN
    ['department', 'grid', 'street', 'supervisor', 'district'] AS level,
    [department, grid_code, street, supervisor, ''] AS unit
WHERE NOT (level = 'department' AND unit = '')
GROUP BY period, period_start, level, unit;
