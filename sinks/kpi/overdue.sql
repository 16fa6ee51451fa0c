-- The cases the meeting goes through: those whose deadline fell in the period and that
-- were not handled by it (handled late, or unhandled at {asof_s}), and those escalated in
-- the period. late_h: hours from the deadline to the handling, or to {asof_s} when
-- unhandled; top_level: the highest escalation level reached by {asof_s} ('' none).
-- Placeholders: {db}, {from_s} and {to_s} (epoch seconds of the local midnights that
-- open and close the period), {asof_s} (the period's end, or now if earlier), {levels}
-- (the escalation levels, lowest first), {min_rank} (list only cases whose highest level
-- is at least this one: its 1-based place in {levels}; 0 lists every case).
-- The escalations are escalation_levels (`escalations FINAL`'s rows, rolled up per month:
-- migration 0019), and the setting lets 18.16 push the conditions on escalated_at into its
-- reads, ranges of the rollup's key (a current release does so anyway). A case whose
-- highest level is below {min_rank} is not listed, so the escalations below it are left
-- out before the grouping (the highest level of every other case is the same).
SELECT
    case_id, category_key, department, street, grid_code,
    toUInt32(deadline) AS deadline_s,
    is_handled,
    (toInt64(if(is_handled = 1, handled_eff, toDateTime({asof_s}))) - toInt64(deadline))
        / 3600. AS late_h,
    if(level_rank = 0, '', arrayElement({levels}, level_rank)) AS top_level
FROM (
    SELECT case_id, category_key, department, street, grid_code, deadline, handled_eff,
        is_handled
    FROM {db}.case_facts
    WHERE voided = 0 AND closed_on_spot = 0 AND deadline > toDateTime(0)
        AND (
            (deadline >= toDateTime({from_s}) AND deadline < toDateTime({to_s})
             AND (handled_eff > deadline
                  OR (is_handled = 0 AND deadline < toDateTime({asof_s}))))
            OR case_id IN (
                SELECT case_id FROM {db}.escalation_levels
                WHERE escalated_at >= toDateTime({from_s}) AND escalated_at < toDateTime({to_s})
            )
        )
) AS c
ANY LEFT JOIN (
    SELECT case_id, max(indexOf({levels}, level)) AS level_rank
    FROM {db}.escalation_levels
    WHERE escalated_at < toDateTime({asof_s}) AND indexOf({levels}, level) >= {min_rank}
    GROUP BY case_id
) AS e USING case_id
WHERE level_rank >= {min_rank}
ORDER BY level_rank DESC, late_h DESC, case_id
SETTINGS enable_optimize_predicate_expression = 1
