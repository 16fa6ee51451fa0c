-- District totals per day. Placeholders: {db}, {from}, {to}.
SELECT
    period_start AS day, opened, due, closed, closed_on_time, closure_rate,
    on_time_closure_rate
FROM {db}.kpi_units
WHERE period = 'day' AND level = 'district'
    AND period_start >= toDate('{from}') AND period_start <= toDate('{to}')
ORDER BY day
