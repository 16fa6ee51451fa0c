-- Recurring problems (顽疾): per unit grid and category, the cases opened in the period
-- that recur a closed case (recurrence_of), most first; chronic = 1 from the second
-- recurrence in the period on. Cases without a grid code are rows with grid_code '', last
-- and never chronic: no unit grid contains them, so they are no place.
-- Placeholders: {db}, {from_s}, {to_s}.
-- The setting lets 18.16 push the WHERE into case_facts' reads (docs/bi/rollups.md,
-- "Report queries"): the fresh months' rows are then read by their key (opened_at), only
-- the period's, instead of all of them before the filter; a current release does so anyway.
SELECT
    grid_code, category_key,
    any(street) AS street,
    any(community) AS community,
    count() AS recurrences,
    uniqExact(recurrence_of) AS problems,
    toUInt8(recurrences >= 2 AND grid_code != '') AS chronic
FROM {db}.case_facts
WHERE voided = 0 AND recurrence_of != 0
    AND opened_at >= toDateTime({from_s}) AND opened_at < toDateTime({to_s})
GROUP BY grid_code, category_key
ORDER BY grid_code = '', recurrences DESC, grid_code, category_key
SETTINGS enable_optimize_predicate_expression = 1
