-- Reports per channel in the period: duplicates and fixed on the spot. Placeholders:
-- {db}, {period}, {start}.
SELECT
    source, channel, reports, new_cases, duplicates, duplicate_share, fixed_on_spot,
    late_reports, recurrences
FROM {db}.kpi_intake
WHERE period = '{period}' AND period_start = toDate('{start}')
ORDER BY source
