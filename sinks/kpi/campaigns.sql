-- The campaigns running at some time from {from} to {to} (inclusive) and their results,
-- earliest first. Placeholders: {db}, {from}, {to}.
SELECT *
FROM {db}.kpi_campaigns
WHERE start_date <= toDate('{to}') AND end_date >= toDate('{from}')
ORDER BY start_date, campaign_id
