-- Recurrences (复发) counted against the case they came back after. Placeholders: {db},
-- {tz}. Definition: docs/bi/kpis.md; the executable one is sinks/reference.py
-- (recurrences). A recurrence is a case dedup opened within the category's recurrence
-- window of a closed case at the same place (cases.recurrence_of, set once the lifecycle's
-- closure reached dedup: streams/contracts/closures.py).

-- 复发率 per unit of the closed case: level 'department', 'category' or 'district' (unit
-- ''), on the local day the case was closed. `closed` counts closed cases, `recurred` those
-- a later case names as its recurrence_of, `recurrences` those later cases. Percentages.
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
        ['day', 'week', 'month'] AS period,
        [day, toMonday(day), toStartOfMonth(day)] AS period_start
)
ARRAY JOIN
    ['department', 'category', 'district'] AS level,
    [department, category_key, ''] AS unit
WHERE NOT (level != 'district' AND unit = '')
GROUP BY period, period_start, level, unit;
