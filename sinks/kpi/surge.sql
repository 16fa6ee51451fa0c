-- Surge recovery over the period's hours: cases opened and closed per hour, the backlog
-- (cases opened and not yet closed) at the end of each hour, and the surge: the hours
-- with at least 3 times the period's mean cases opened per hour and at least 5 cases.
-- After the first surge hour the backlog peaks; it has cleared at the end of the first
-- later hour when it is back at its level before the surge (baseline). Hours are counted
-- from the period's start (0 = its first hour); -1: no surge, or not cleared in the period.
-- (ClickHouse 18.16 lambdas cannot read other columns: values a lambda compares with are
-- passed in as arrays of that value.) Placeholders: {db}, {from_s}, {to_s}.
SELECT
    n_hours, start_backlog, opened, closed, backlog, mean_opened, surge_hours,
    if(empty(surge_hours), -1, toInt64(surge_hours[1])) AS first_surge,
    if(first_surge <= 0, toInt64(start_backlog), backlog[greatest(first_surge, 1)]) AS baseline,
    arraySlice(backlog, greatest(first_surge, 0) + 1) AS after_surge,
    if(first_surge < 0, toInt64(0), arrayReduce('max', after_surge)) AS peak_backlog,
    if(first_surge < 0, -1,
       first_surge + toInt64(indexOf(after_surge, peak_backlog)) - 1) AS peak_hour,
    arraySlice(backlog, greatest(peak_hour, 0) + 2) AS after_peak,
    arrayFirstIndex((x, b) -> x <= b, after_peak,
                    arrayResize(emptyArrayInt64(), length(after_peak), baseline)) AS back_at,
    if(first_surge < 0 OR back_at = 0, -1, peak_hour + toInt64(back_at)) AS cleared_hour,
    if(cleared_hour < 0, -1, cleared_hour + 1 - first_surge) AS hours_to_clear
FROM (
    SELECT
        toUInt64(length(hourly)) AS n_hours,
        start_backlog,
        arrayMap(t -> tupleElement(t, 2), hourly) AS opened,
        arrayMap(t -> tupleElement(t, 3), hourly) AS closed,
        arraySlice(arrayCumSum(arrayConcat([toInt64(start_backlog)], arrayMap(
            t -> toInt64(tupleElement(t, 2)) - toInt64(tupleElement(t, 3)), hourly))), 2)
            AS backlog,
        arraySum(opened) / n_hours AS mean_opened,
        arrayFilter((h, n, m) -> n >= 3 * m AND n >= 5, range(n_hours), opened,
                    arrayResize(emptyArrayFloat64(), n_hours, mean_opened)) AS surge_hours
    FROM (
        SELECT
            toUInt64(sumIf(n_backlog, h = -1)) AS start_backlog,
            arraySort(groupArrayIf((toUInt64(h), n_opened, n_closed), h >= 0)) AS hourly
        FROM (
            SELECT h, sum(o) AS n_opened, sum(c) AS n_closed, sum(b) AS n_backlog
            FROM (
                SELECT toInt64(number) AS h, toUInt64(0) AS o, toUInt64(0) AS c,
                    toUInt64(0) AS b
                FROM numbers(toUInt64(intDiv({to_s} - {from_s}, 3600)))
                UNION ALL
                -- one read of the cases for all three: each case is a row in the hour it
                -- was opened, one in the hour it was closed (both within the period), and
                -- one in hour -1 if it was open when the period began (start_backlog)
                SELECT
                    tupleElement(e, 1) AS h, toUInt64(tupleElement(e, 2)) AS o,
                    toUInt64(tupleElement(e, 3)) AS c, toUInt64(tupleElement(e, 4)) AS b
                FROM (
                    SELECT arrayJoin(arrayFilter(x -> tupleElement(x, 1) >= -1, [
                        (if(opened_at >= toDateTime({from_s}) AND opened_at < toDateTime({to_s}),
                            intDiv(toInt64(opened_at) - {from_s}, 3600), toInt64(-2)),
                         toUInt8(1), toUInt8(0), toUInt8(0)),
                        (if(closed_at >= toDateTime({from_s}) AND closed_at < toDateTime({to_s}),
                            intDiv(toInt64(closed_at) - {from_s}, 3600), toInt64(-2)),
                         toUInt8(0), toUInt8(1), toUInt8(0)),
                        (if(opened_at < toDateTime({from_s})
                            AND (closed_at = toDateTime(0) OR closed_at >= toDateTime({from_s})),
                            toInt64(-1), toInt64(-2)),
                         toUInt8(0), toUInt8(0), toUInt8(1))
                    ])) AS e
                    FROM {db}.case_facts
                    WHERE voided = 0 AND (
                        (opened_at >= toDateTime({from_s}) AND opened_at < toDateTime({to_s}))
                        OR (closed_at >= toDateTime({from_s}) AND closed_at < toDateTime({to_s}))
                        OR (opened_at < toDateTime({from_s}) AND (closed_at = toDateTime(0)
                            OR closed_at >= toDateTime({from_s}))))
                )
            )
            GROUP BY h
        )
    )
)
