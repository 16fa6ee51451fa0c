-- KPI views (definitions: docs/bi/kpis.md). Placeholders: {db}, {tz}.
-- Every view reads its tables with FINAL, so rows awaiting a merge (replays) never count twice.
-- Periods: 'day', 'week' (starting Monday) and 'month', in the district's local time {tz}.

-- One row per case with the flags every case KPI is built from.
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
FROM {db}.cases FINAL
ANY LEFT JOIN (
    SELECT case_id, dispatch_due, dispatched_on_time FROM {db}.dispatches FINAL
) AS d USING case_id;

-- Additive case counts at the finest grain (period x department x unit grid). Each case
-- counts once per milestone: opened (kind 1), due (2), dispatched (3), closed (4).
CREATE VIEW IF NOT EXISTS {db}.kpi_case_counts AS
SELECT
    period, period_start, department, street, community, grid_code,
    countIf(kind = 1) AS n_opened,
    countIf(kind = 2) AS n_due,
    countIf(kind = 2 AND is_handled = 1) AS n_handled,
    countIf(kind = 2 AND handled_on_time = 1) AS n_handled_on_time,
    countIf(kind = 2 AND is_closed = 1) AS n_closed,
    countIf(kind = 2 AND closed_on_time = 1) AS n_closed_on_time,
    countIf(kind = 2 AND reworked = 1) AS n_reworked,
    countIf(kind = 3) AS n_dispatched,
    countIf(kind = 3 AND dispatched_on_time = 1) AS n_dispatched_on_time,
    countIf(kind = 4) AS n_closed_in_period,
    countIf(kind = 1 AND recurrence_of != 0) AS n_recurrences
FROM (
    SELECT
        department, street, community, grid_code, is_handled, handled_on_time, is_closed,
        closed_on_time, reworked, dispatched_on_time, recurrence_of,
        arrayJoin(arrayFilter(x -> tupleElement(x, 2) > toDateTime(0), [
            (toUInt8(1), if(voided = 1, toDateTime(0), opened_at)),
            (toUInt8(2), due_at),
            (toUInt8(3), if(voided = 1, toDateTime(0), dispatched_at)),
            (toUInt8(4), if(voided = 1, toDateTime(0), closed_at))
        ])) AS milestone,
        tupleElement(milestone, 1) AS kind,
        toDate(tupleElement(milestone, 2), '{tz}') AS day
    FROM {db}.case_facts
)
ARRAY JOIN
    ['day', 'week', 'month'] AS period,
    [day, toMonday(day), toStartOfMonth(day)] AS period_start
GROUP BY period, period_start, department, street, community, grid_code;

-- Case KPIs per reporting unit: level is 'department', 'grid', 'community', 'street' or
-- 'district' (unit ''). Rates are percentages; a rate with a zero denominator is 0.
CREATE VIEW IF NOT EXISTS {db}.kpi_units AS
SELECT
    period, period_start, level, unit,
    sum(n_opened) AS opened,
    sum(n_due) AS due,
    sum(n_handled) AS handled,
    sum(n_handled_on_time) AS handled_on_time,
    sum(n_closed) AS closed,
    sum(n_closed_on_time) AS closed_on_time,
    sum(n_reworked) AS reworked,
    sum(n_dispatched) AS dispatched,
    sum(n_dispatched_on_time) AS dispatched_on_time,
    sum(n_closed_in_period) AS closed_in_period,
    sum(n_recurrences) AS recurrences,
    if(due = 0, 0., 100. * closed / due) AS closure_rate,
    if(due = 0, 0., 100. * closed_on_time / due) AS on_time_closure_rate,
    if(dispatched = 0, 0., 100. * dispatched_on_time / dispatched) AS on_time_dispatch_rate,
    if(due = 0, 0., 100. * handled_on_time / due) AS on_time_handling_rate,
    if(handled = 0, 0., 100. * reworked / handled) AS rework_rate
FROM {db}.kpi_case_counts
ARRAY JOIN
    ['department', 'grid', 'community', 'street', 'district'] AS level,
    [department, grid_code, community, street, ''] AS unit
WHERE NOT (level = 'department' AND unit = '')
GROUP BY period, period_start, level, unit;

-- Department composite score (综合指标值) and grade. volume_score: 100 x the department's
-- due cases / the most due cases of any department in the same period.
CREATE VIEW IF NOT EXISTS {db}.kpi_department_score AS
SELECT
    period, period_start, unit AS department, opened, due, handled, closed, closed_on_time,
    dispatched, reworked, closure_rate, on_time_closure_rate, on_time_dispatch_rate,
    on_time_handling_rate, rework_rate,
    if(max_due = 0, 0., 100. * due / max_due) AS volume_score,
    0.1 * volume_score + 0.3 * closure_rate + 0.3 * on_time_handling_rate
        + 0.3 * (100. - rework_rate) AS composite,
    multiIf(composite >= 90, 'A', composite >= 75, 'B', composite >= 60, 'C',
            composite >= 40, 'D', 'E') AS grade
FROM (SELECT * FROM {db}.kpi_units WHERE level = 'department') AS u
ANY LEFT JOIN (
    SELECT period, period_start, max(due) AS max_due
    FROM {db}.kpi_units
    WHERE level = 'department'
    GROUP BY period, period_start
) AS m USING (period, period_start);

-- Intake per channel (source 0 sensor, 1 hotline, 2 patrol), by event time.
CREATE VIEW IF NOT EXISTS {db}.kpi_intake AS
SELECT
    period, period_start, source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    count() AS reports,
    countIf(is_new = 1) AS new_cases,
    reports - new_cases AS duplicates,
    if(reports = 0, 0., 100. * duplicates / reports) AS duplicate_share,
    uniqExact(case_id) AS n_cases,
    if(n_cases = 0, 0., reports / n_cases) AS reports_per_case,
    countIf(fixed = 1) AS fixed_on_spot,
    countIf(is_new = 1 AND recurrence_of != 0) AS recurrences
FROM (
    SELECT source, case_id, is_new, recurrence_of, bitAnd(flags, 1) AS fixed,
        toDate(event_time, '{tz}') AS day
    FROM {db}.links FINAL
    ANY LEFT JOIN (SELECT event_id, flags FROM {db}.events FINAL) AS e USING event_id
)
ARRAY JOIN
    ['day', 'week', 'month'] AS period,
    [day, toMonday(day), toStartOfMonth(day)] AS period_start
GROUP BY period, period_start, source;

-- Canonical events per source and minute (UTC minute start).
CREATE VIEW IF NOT EXISTS {db}.intake_minute AS
SELECT
    toStartOfMinute(event_time) AS minute, source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    count() AS events,
    countIf(bitAnd(flags, 1) = 1) AS fixed_on_spot
FROM {db}.events FINAL
GROUP BY minute, source;

-- Dead letters per day, source and reason.
CREATE VIEW IF NOT EXISTS {db}.deadletter_daily AS
SELECT toDate(received_at, '{tz}') AS day, source, reason, count() AS dead_letters
FROM {db}.dead_letters FINAL
GROUP BY day, source, reason;

-- Median and 90th percentile step times in minutes, by the case's opening period
-- (0 when no case of the group reached the step).
CREATE VIEW IF NOT EXISTS {db}.kpi_durations AS
SELECT
    period, period_start, department,
    count() AS cases,
    countIf(sign_min >= 0) AS signed,
    countIf(handle_min >= 0) AS handled,
    countIf(close_min >= 0) AS closed,
    if(signed = 0, 0., quantileExactIf(0.5)(sign_min, sign_min >= 0)) AS sign_median_min,
    if(signed = 0, 0., quantileExactIf(0.9)(sign_min, sign_min >= 0)) AS sign_p90_min,
    if(handled = 0, 0., quantileExactIf(0.5)(handle_min, handle_min >= 0)) AS handle_median_min,
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
    FROM {db}.case_facts
    WHERE voided = 0 AND department != ''
)
ARRAY JOIN
    ['day', 'week', 'month'] AS period,
    [day, toMonday(day), toStartOfMonth(day)] AS period_start
GROUP BY period, period_start, department;

-- Cases opened per unit grid (hotspots), by opening period.
CREATE VIEW IF NOT EXISTS {db}.kpi_hotspots AS
SELECT
    period, period_start, grid_code,
    any(community) AS community_code,
    any(street) AS street_code,
    count() AS cases,
    countIf(recurrence_of != 0) AS recurrences,
    avg(lat) AS mean_lat,
    avg(lon) AS mean_lon
FROM (
    SELECT grid_code, community, street, recurrence_of, lat, lon,
        toDate(opened_at, '{tz}') AS day
    FROM {db}.case_facts
    WHERE voided = 0
)
ARRAY JOIN
    ['day', 'week', 'month'] AS period,
    [day, toMonday(day), toStartOfMonth(day)] AS period_start
GROUP BY period, period_start, grid_code;

-- Patrol days and grids per inspector and week, against the rule for the role.
CREATE VIEW IF NOT EXISTS {db}.kpi_patrol_coverage AS
SELECT
    week_start, inspector_id, role, department, patrol_days, grids_visited, visits,
    min_days_per_week AS required_days,
    toUInt8(patrol_days >= min_days_per_week) AS met
FROM (
    SELECT
        toMonday(toDate(visited_at, '{tz}')) AS week_start, inspector_id, role,
        any(department) AS department,
        uniqExact(toDate(visited_at, '{tz}')) AS patrol_days,
        uniqExact(grid_code) AS grids_visited,
        count() AS visits
    FROM {db}.patrol_visits FINAL
    GROUP BY week_start, inspector_id, role
) AS v
ANY LEFT JOIN (
    SELECT role, min_days_per_week FROM {db}.patrol_rules FINAL
) AS r USING role;

-- Unit grids walked per street and community and week.
CREATE VIEW IF NOT EXISTS {db}.kpi_patrol_grids AS
SELECT
    toMonday(toDate(visited_at, '{tz}')) AS week_start, street, community,
    uniqExact(grid_code) AS grids_visited,
    uniqExact(inspector_id) AS inspectors,
    count() AS visits
FROM {db}.patrol_visits FINAL
GROUP BY week_start, street, community;
