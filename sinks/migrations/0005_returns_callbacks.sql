-- Returns (退单), re-dispatches and callbacks (回访). Placeholders: {db}, {tz}. Definitions:
-- docs/bi/kpis.md; the executable ones are sinks/reference.py (returns, satisfaction).
-- No new table: returns and re-dispatches are case_stages rows (the return's note is its
-- reason), and `dispatches` keeps one row per case, the order in force (a re-dispatch order
-- carries the first dispatch's opening, dispatch_due and dispatched_on_time unchanged).

-- 退单率 per reporting unit: level is 'department', 'category' (the routing rule the
-- dispatch followed) or 'district' (unit ''). `dispatched` counts dispatches and
-- re-dispatches to the unit, `returned` the returns from it, each on the local day of the
-- step (case_stages: actions dispatch, redispatch, return). Rates are percentages.
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
            SELECT case_id, category_key FROM {db}.cases FINAL
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

-- A callback's result (satisfied, basically_satisfied, unsatisfied, unreachable) on its
-- case_stages row (action 'callback'); '' on every other step.
ALTER TABLE {db}.case_stages ADD COLUMN result String;

-- 满意度 per department (the case's at the callback) and district (unit ''), on the local
-- day of the callback: (satisfied + basically satisfied) / reached callbacks, where the
-- unreachable ones are not reached. Rates are percentages.
CREATE VIEW IF NOT EXISTS {db}.kpi_satisfaction AS
SELECT
    period, period_start, level, unit,
    count() AS callbacks,
    sum(satisfied) AS satisfied,
    sum(basically) AS basically_satisfied,
    sum(unsatisfied) AS unsatisfied,
    sum(unreachable) AS unreachable,
    callbacks - unreachable AS reached,
    if(reached = 0, 0., 100. * (satisfied + basically_satisfied) / reached) AS satisfaction_rate
FROM (
    SELECT period, period_start, department, satisfied, basically, unsatisfied, unreachable
    FROM (
        SELECT
            department,
            toUInt8(result = 'satisfied') AS satisfied,
            toUInt8(result = 'basically_satisfied') AS basically,
            toUInt8(result = 'unsatisfied') AS unsatisfied,
            toUInt8(result = 'unreachable') AS unreachable,
            toDate(ts, '{tz}') AS day
        FROM {db}.case_stages FINAL
        WHERE action = 'callback'
    )
    ARRAY JOIN
        ['day', 'week', 'month'] AS period,
        [day, toMonday(day), toStartOfMonth(day)] AS period_start
)
ARRAY JOIN ['department', 'district'] AS level, [department, ''] AS unit
WHERE NOT (level = 'department' AND unit = '')
GROUP BY period, period_start, level, unit;
