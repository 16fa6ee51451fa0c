-- Meeting periods (docs/bi/reports.md): the half-monthly dispatch meeting reads periods of
-- the 1st-15th and 16th-end of a month, so the views the meeting reports read gain the
-- period 'half_month' (period_start the 1st or the 16th). Placeholders: {db}, {tz}.
-- Each view below is its previous definition (0002, 0003, 0006, 0010) with that one period
-- added; kpi_units and kpi_department_score read kpi_case_counts and follow. The
-- executable definition is sinks/reference.py (period_starts with MEETING_PERIODS).

DROP TABLE IF EXISTS {db}.kpi_case_counts;

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
    ['day', 'week', 'half_month', 'month'] AS period,
    [day, toMonday(day),
     if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15),
     toStartOfMonth(day)] AS period_start
GROUP BY period, period_start, department, street, community, grid_code;

DROP TABLE IF EXISTS {db}.kpi_intake;

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
    countIf(is_new = 1 AND recurrence_of != 0) AS recurrences,
    countIf(late = 1) AS late_reports,
    if(reports = 0, 0., 100. * late_reports / reports) AS late_share,
    countIf(beyond = 1) AS beyond_state
FROM (
    SELECT source, case_id, is_new, recurrence_of, bitAnd(event_flags, 1) AS fixed,
        toUInt8(bitAnd(bitOr(flags, event_flags), 2) = 2) AS late,
        toUInt8(bitAnd(flags, 4) = 4) AS beyond,
        toDate(event_time, '{tz}') AS day
    FROM {db}.links FINAL
    ANY LEFT JOIN (SELECT event_id, flags AS event_flags FROM {db}.events FINAL) AS e
        USING event_id
)
ARRAY JOIN
    ['day', 'week', 'half_month', 'month'] AS period,
    [day, toMonday(day),
     if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15),
     toStartOfMonth(day)] AS period_start
GROUP BY period, period_start, source;

DROP TABLE IF EXISTS {db}.kpi_hotspots;

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
    ['day', 'week', 'half_month', 'month'] AS period,
    [day, toMonday(day),
     if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15),
     toStartOfMonth(day)] AS period_start
GROUP BY period, period_start, grid_code;

DROP TABLE IF EXISTS {db}.kpi_recurrences;

CREATE VIEW IF NOT EXISTS {db}.kpi_recurrences AS
SELECT
    period, period_start, level, unit,
    count() AS closed,
    countIf(n > 0) AS recurred,
    sum(n) AS recurrences,
    if(closed = 0, 0., 100. * recurred / closed) AS recurrence_rate
FROM (
    SELECT period, period_start, department, category_key, n
    FROM (
        SELECT c.department, c.category_key, toDate(c.closed_at, '{tz}') AS day, r.n AS n
        FROM (
            SELECT case_id, department, category_key, closed_at
            FROM {db}.cases FINAL
            WHERE status = 'closed'
        ) AS c
        LEFT JOIN (
            SELECT recurrence_of AS case_id, toUInt64(count()) AS n
            FROM {db}.cases FINAL
            WHERE recurrence_of != 0
            GROUP BY recurrence_of
        ) AS r USING case_id
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

DROP TABLE IF EXISTS {db}.kpi_escalations;

CREATE VIEW IF NOT EXISTS {db}.kpi_escalations AS
SELECT
    period, period_start, department, level,
    count() AS escalations
FROM (
    SELECT period, period_start, dept, level
    FROM (
        SELECT department AS dept, level, toDate(escalated_at, '{tz}') AS day
        FROM {db}.escalations FINAL
    )
    ARRAY JOIN
        ['day', 'week', 'half_month', 'month'] AS period,
        [day, toMonday(day),
         if(toDayOfMonth(day) <= 15, toStartOfMonth(day), toStartOfMonth(day) + 15),
         toStartOfMonth(day)] AS period_start
)
ARRAY JOIN [dept, ''] AS department
GROUP BY period, period_start, department, level;
