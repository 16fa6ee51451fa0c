-- Streets of the network nobody walked in the period ({period}) starting {start}, with the days
-- since they were last walked (today; never walked streets count from 1970), longest gap
-- first. Placeholders: {db}, {period}, {start}.
SELECT street_id, street_name, segments, never_walked, days_since_walked
FROM {db}.kpi_streets_not_walked
ANY LEFT JOIN (
    SELECT street_id, visits
    FROM {db}.kpi_street_coverage
    WHERE period = '{period}' AND period_start = toDate('{start}') AND level = 'street'
) AS w USING street_id
WHERE visits = 0
ORDER BY days_since_walked DESC, street_id
