-- The cases the meeting goes through: those whose deadline fell in the period and that
-- were not handled by it (handled late, or unhandled at {asof_s}), and those escalated in
-- the period. late_h: hours from the deadline to the handling, or to {asof_s} when
-- unhandled; top_level: the highest escalation level reached by {asof_s} ('' none).
-- One row per department: how many cases it has in the list (cases, unhandled) and its
-- first {rows} cases in the list's order (highest level, then latest, then case id) as
-- parallel arrays. The report shows the first {rows} of the whole list, which are among
-- the departments' first {rows}: a list of 500 k cases (a month of a busy district) is
-- not read out at a meeting, and sending it to the client cost seconds (docs/bi/rollups.md).
-- Placeholders: {db}, {from_s} and {to_s} (epoch seconds of the local midnights that
-- open and close the period), {asof_s} (the period's end, or now if earlier), {levels}
-- (the escalation levels, lowest first), {min_rank} (list only cases whose highest level
-- is at least this one: its 1-based place in {levels}; 0 lists every case), {rows}, and
-- {level_rank} and {level_join}: a case's highest level by {asof_s} as its place in
-- {levels} (0 none), of the levels from {min_rank} up (sinks.kpi.queries, per engine).
-- On 18.16 it is asked level by level from the highest down, each level a set of the
-- case ids escalation_levels has at it before {asof_s} ({level_join} empty): a range of
-- the rollup's key per level since migration 0021, where grouping every escalation per
-- case and joining took 1.6 times as long. A current release joins the grouped
-- escalations faster than it reads the view once per level.
-- The escalations are escalation_levels (`escalations FINAL`'s rows, rolled up per month:
-- migration 0019), and the setting lets 18.16 push the conditions on level, escalated_at
-- and opened_at into its reads, ranges of the rollups' keys (a current release does so
-- anyway). A case due or escalated in the period was opened before its end: the cases
-- opened later are not read.
-- A department's first {rows} are chosen by a number per case that orders as the list
-- does up to the case id (its level, then its lateness in seconds, each offset to be
-- positive and exact in a Float64): every case at or above the {rows}-th number, ties
-- included, is sorted by the whole order. Sorting numbers is what 18.16 does fast (its
-- lambdas cannot gather by a sorted index); sorting every case's tuple cost the monthly
-- list about 0.2 s more.
SELECT
    department, cases, unhandled,
    arrayMap(r -> tupleElement(r, 3), top) AS case_ids,
    arrayMap(r -> tupleElement(r, 4), top) AS category_keys,
    arrayMap(r -> tupleElement(r, 5), top) AS streets,
    arrayMap(r -> tupleElement(r, 6), top) AS grid_codes,
    arrayMap(r -> tupleElement(r, 7), top) AS deadlines_s,
    arrayMap(r -> tupleElement(r, 8), top) AS handled,
    arrayMap(r -> tupleElement(r, 2), top) AS late_hours,
    arrayMap(r -> if(tupleElement(r, 1) = 0, '', arrayElement({levels}, tupleElement(r, 1))),
             top) AS top_levels
FROM (
    SELECT
        department,
        count() AS cases,
        countIf(is_handled = 0) AS unhandled,
        groupArray(toFloat64(level_rank) * 2199023255552. + toFloat64(late_s + 1099511627776))
            AS keys,
        arraySlice(
            arraySort(
                r -> (-tupleElement(r, 1), -tupleElement(r, 2), tupleElement(r, 3)),
                arrayFilter(
                    (r, k, least_key) -> k >= least_key,
                    groupArray((level_rank, late_h, case_id, category_key, street, grid_code,
                                deadline_s, is_handled)),
                    keys,
                    arrayResize(emptyArrayFloat64(), length(keys),
                                arrayElement(arrayReverseSort(keys), least(length(keys), {rows})))
                )
            ), 1, {rows}) AS top
    FROM (
        SELECT
            case_id, category_key, department, street, grid_code,
            toUInt32(deadline) AS deadline_s,
            is_handled,
            toInt64(if(is_handled = 1, handled_eff, toDateTime({asof_s}))) - toInt64(deadline)
                AS late_s,
            late_s / 3600. AS late_h,
            toInt16({level_rank}) AS level_rank
        FROM (
            SELECT case_id, category_key, department, street, grid_code, deadline,
                handled_eff, is_handled
            FROM {db}.case_facts
            WHERE opened_at < toDateTime({to_s})
                AND voided = 0 AND closed_on_spot = 0 AND deadline > toDateTime(0)
                AND (
                    (deadline >= toDateTime({from_s}) AND deadline < toDateTime({to_s})
                     AND (handled_eff > deadline
                          OR (is_handled = 0 AND deadline < toDateTime({asof_s}))))
                    OR case_id IN (
                        SELECT case_id FROM {db}.escalation_levels
                        WHERE escalated_at >= toDateTime({from_s})
                            AND escalated_at < toDateTime({to_s})
                    )
                )
        ) AS c
        {level_join}
        WHERE level_rank >= {min_rank}
    )
    GROUP BY department
)
ORDER BY department
SETTINGS enable_optimize_predicate_expression = 1
