-- Escalations per department and level in the period (the district's: department '').
-- Placeholders: {db}, {period}, {start}.
SELECT department, level, escalations
FROM {db}.kpi_escalations
WHERE period = '{period}' AND period_start = toDate('{start}')
ORDER BY department, level
