-- 复发率 per department of the closed case in the period. Placeholders: {db}, {period},
-- {start}.
SELECT level, unit, closed, recurred, recurrences, recurrence_rate
FROM {db}.kpi_recurrences
WHERE period = '{period}' AND period_start = toDate('{start}')
    AND level IN ('department', 'district')
ORDER BY level = 'district', recurrence_rate DESC, unit
