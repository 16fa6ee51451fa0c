-- Cases opened per unit grid in a date range, busiest first. Placeholders: {db}, {tz}, {from}, {to}.
-- Summed from kpi_hotspots' days (rollup-backed, docs/bi/rollups.md): a grid's mean
-- position is its days' means weighted by their cases.
SELECT
    grid_code,
    sum(day_cases) AS cases,
    sum(day_recurrences) AS recurrences,
    sum(day_lat) / cases AS mean_lat,
    sum(day_lon) / cases AS mean_lon
FROM (
    SELECT grid_code, cases AS day_cases, recurrences AS day_recurrences,
        mean_lat * cases AS day_lat, mean_lon * cases AS day_lon
    FROM {db}.kpi_hotspots
    WHERE period = 'day'
        AND period_start >= toDate('{from}')
        AND period_start <= toDate('{to}')
)
GROUP BY grid_code
ORDER BY grid_code = '', cases DESC, grid_code
