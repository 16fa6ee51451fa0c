-- The weekly dispatch-meeting table: departments by composite score. Placeholders: {db}, {week}.
SELECT
    department, opened, due, closed, closed_on_time, closure_rate, on_time_closure_rate,
    on_time_dispatch_rate, on_time_handling_rate, rework_rate, volume_score, composite, grade
FROM {db}.kpi_department_score
WHERE period = 'week' AND period_start = toDate('{week}')
ORDER BY composite DESC, department
