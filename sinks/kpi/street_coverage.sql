-- Streets walked in the week starting Monday {week}, least covered first. Placeholders:
-- {db}, {tz}, {week}.
SELECT street_id, street_name, visits, inspectors, metres, segments_walked, segments, coverage
FROM {db}.kpi_street_coverage
WHERE period = 'week' AND period_start = toDate('{week}') AND level = 'street'
ORDER BY coverage, street_id
