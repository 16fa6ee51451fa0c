-- Surge recovery over the period's hours: cases opened and closed per hour, the backlog
-- (cases opened and not yet closed) at the end of each hour, and the surge: the hours
-- with at least 3 times the period's mean cases opened per hour and at least 5 cases.
-- After the first surge hour the backlog peaks; it has cleared at the end of the first
-- later hour when it is back at its level before the surge (baseline). Hours are counted
-- from the period's start (0 = its first hour); -1: no surge, or not cleared in the period.
-- Placeholders: {db}, {from_s}, {to_s}.
SELECT
    n_hours, start_backlog, opened, closed, backlog, mean_opened, surge_hours,
    if(empty(surge_hours), -1, toInt64(surge_hours[1])) AS first_surge,
    if(first_surge <= 0, toInt64(start_backlog), backlog[greatest(first_surge, 1)]) AS baseline,
    arraySlice(backlog, greatest(first_surge, 0) + 1) AS after_surge,
    if(first_surge < 0, 0, arrayReduce('max', after_surge)) AS peak_backlog,
    if(first_surge < 0, -1,
       first_surge + toInt64(arrayFirstIndex(x -> x = peak_backlog, after_surge)) - 1) AS peak_hour,
    arrayFirstIndex(x -> x <= baseline, arraySlice(backlog, greatest(peak_hour, 0) + 2))
        AS back_at,
    if(first_surge < 0 OR back_at = 0, -1, peak_hour + toInt64(back_at)) AS cleared_hour,
    if(cleared_hour < 0, -1, cleared_hour + 1 - first_surge) AS hours_to_clear
FROM (
    SELECT
        n_hours, start_backlog,
        arrayMap(i -> countEqual(o, i), range(n_hours)) AS opened,
        arrayMap(i -> countEqual(c, i), range(n_hours)) AS closed,
        arrayMap(x -> toInt64(start_backlog) + x,
                 arrayCumSum(arrayMap((a, b) -> toInt64(a) - toInt64(b), opened, closed)))
            AS backlog,
        length(o) / n_hours AS mean_opened,
        arrayFilter(i -> opened[i + 1] >= 3 * mean_opened AND opened[i + 1] >= 5,
                    range(n_hours)) AS surge_hours
    FROM (
        SELECT
            toUInt64(intDiv({to_s} - {from_s}, 3600)) AS n_hours,
            countIf(opened_at < toDateTime({from_s})
                    AND (closed_at = toDateTime(0) OR closed_at >= toDateTime({from_s})))
                AS start_backlog,
            groupArrayIf(toUInt64(intDiv(toInt64(opened_at) - {from_s}, 3600)),
                         opened_at >= toDateTime({from_s}) AND opened_at < toDateTime({to_s}))
                AS o,
            groupArrayIf(toUInt64(intDiv(toInt64(closed_at) - {from_s}, 3600)),
                         closed_at >= toDateTime({from_s}) AND closed_at < toDateTime({to_s}))
                AS c
        FROM {db}.case_facts
        WHERE voided = 0
    )
)
