-- Lasting results (长效保持) of the campaigns running at some time from {from} to {to}: one
-- row per campaign and window (30, 60, 90 days). Placeholders: {db}, {from}, {to}.
SELECT *
FROM {db}.kpi_campaign_recurrence
WHERE start_date <= toDate('{to}') AND end_date >= toDate('{from}')
ORDER BY start_date, campaign_id, days
