-- The street segments walked in the week starting Monday {week}, with their visits, for
-- the report's street map. Placeholders: {db}, {tz}, {week}.
SELECT segment_id, visits
FROM {db}.kpi_street_coverage
WHERE period = 'week' AND period_start = toDate('{week}') AND level = 'segment' AND visits > 0
ORDER BY segment_id
