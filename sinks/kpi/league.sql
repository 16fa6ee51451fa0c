-- The meeting's department table: departments by composite score. Placeholders: {db},
-- {period} ('week', 'half_month' or 'month'), {start} (the period's first day).
SELECT
    department, opened, due, closed, closed_on_time, closure_rate, on_time_closure_rate,
    on_time_dispatch_rate, on_time_handling_rate, rework_rate, volume_score, composite, grade
FROM {db}.kpi_department_score
WHERE period = '{period}' AND period_start = toDate('{start}')
ORDER BY composite DESC, department
