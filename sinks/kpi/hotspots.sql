-- Cases opened per unit grid in a date range, busiest first. Placeholders: {db}, {tz}, {from}, {to}.
SELECT
    grid_code,
    count() AS cases,
    countIf(recurrence_of != 0) AS recurrences,
    avg(lat) AS mean_lat,
    avg(lon) AS mean_lon
FROM {db}.case_facts
WHERE voided = 0
    AND toDate(opened_at, '{tz}') >= toDate('{from}')
    AND toDate(opened_at, '{tz}') <= toDate('{to}')
GROUP BY grid_code
ORDER BY grid_code = '', cases DESC, grid_code
