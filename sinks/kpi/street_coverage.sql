-- Streets walked in the period ({period}) starting {start}, least covered first. Placeholders:
-- {db}, {period}, {start}.
SELECT street_id, street_name, visits, inspectors, metres, segments_walked, segments, coverage
FROM {db}.kpi_street_coverage
WHERE period = '{period}' AND period_start = toDate('{start}') AND level = 'street'
ORDER BY coverage, street_id
