-- The street segments walked in the period ({period}) starting {start}, with their visits, for
-- the report's street map. Placeholders: {db}, {period}, {start}.
SELECT segment_id, visits
FROM {db}.kpi_street_coverage
WHERE period = '{period}' AND period_start = toDate('{start}') AND level = 'segment' AND visits > 0
ORDER BY segment_id
