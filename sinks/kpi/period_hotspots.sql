-- Cases per unit grid in the period, busiest first; the cases without a grid code (a
-- report no unit grid contains) are the row with grid_code '', last. Placeholders: {db},
-- {period}, {start}.
SELECT grid_code, street_code, community_code, cases, recurrences, mean_lat, mean_lon
FROM {db}.kpi_hotspots
WHERE period = '{period}' AND period_start = toDate('{start}')
ORDER BY grid_code = '', cases DESC, grid_code
