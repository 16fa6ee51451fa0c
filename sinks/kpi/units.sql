-- Case figures per street (街道) and community (社区) in the period, busiest first.
-- Placeholders: {db}, {period}, {start}.
SELECT
    level, unit, opened, due, closed, closed_on_time, closure_rate, on_time_closure_rate,
    on_time_handling_rate, recurrences
FROM {db}.kpi_units
WHERE period = '{period}' AND period_start = toDate('{start}')
    AND level IN ('street', 'community')
ORDER BY level DESC, opened DESC, unit
