-- Late reports (docs/lateness.md). Placeholders: {db}, {tz}.
-- Fused flags: bit 0 fixed on the spot, bit 1 late (arrived more than CITYSTREAM_LATE_AFTER_S
-- after its event time), bit 2 beyond state (links only: too far behind its tile for the
-- dedup state, so it opened a case of its own). Rows stored before this migration have
-- links.flags = 0; their events.flags still carry bit 0.

-- The links carry the event's flags as dedup wrote them (the events table's plus bit 2).
-- (ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: sinks/migrate.py skips this statement
-- when the column exists already.)
ALTER TABLE {db}.links ADD COLUMN flags UInt8;

-- One row per linked report with its lateness spelled out, for BI.
CREATE VIEW IF NOT EXISTS {db}.report_lateness AS
SELECT
    event_id, case_id, source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    is_new, event_time, ingest_time,
    (toInt64(ingest_time) - toInt64(event_time)) / 60. AS delay_min,
    toUInt8(bitAnd(bitOr(flags, event_flags), 2) = 2) AS late,
    toUInt8(bitAnd(flags, 4) = 4) AS beyond_state
FROM {db}.links FINAL
ANY LEFT JOIN (
    SELECT event_id, flags AS event_flags, ingest_time FROM {db}.events FINAL
) AS e USING event_id;

-- kpi_intake as in 0002 plus late_reports, late_share and beyond_state (appended columns).
DROP TABLE IF EXISTS {db}.kpi_intake;

CREATE VIEW IF NOT EXISTS {db}.kpi_intake AS
SELECT
    period, period_start, source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    count() AS reports,
    countIf(is_new = 1) AS new_cases,
    reports - new_cases AS duplicates,
    if(reports = 0, 0., 100. * duplicates / reports) AS duplicate_share,
    uniqExact(case_id) AS n_cases,
    if(n_cases = 0, 0., reports / n_cases) AS reports_per_case,
    countIf(fixed = 1) AS fixed_on_spot,
    countIf(is_new = 1 AND recurrence_of != 0) AS recurrences,
    countIf(late = 1) AS late_reports,
    if(reports = 0, 0., 100. * late_reports / reports) AS late_share,
    countIf(beyond = 1) AS beyond_state
FROM (
    SELECT source, case_id, is_new, recurrence_of, bitAnd(event_flags, 1) AS fixed,
        toUInt8(bitAnd(bitOr(flags, event_flags), 2) = 2) AS late,
        toUInt8(bitAnd(flags, 4) = 4) AS beyond,
        toDate(event_time, '{tz}') AS day
    FROM {db}.links FINAL
    ANY LEFT JOIN (SELECT event_id, flags AS event_flags FROM {db}.events FINAL) AS e
        USING event_id
)
ARRAY JOIN
    ['day', 'week', 'month'] AS period,
    [day, toMonday(day), toStartOfMonth(day)] AS period_start
GROUP BY period, period_start, source;

-- intake_minute as in 0002 plus late (events flagged late, by event time).
DROP TABLE IF EXISTS {db}.intake_minute;

CREATE VIEW IF NOT EXISTS {db}.intake_minute AS
SELECT
    toStartOfMinute(event_time) AS minute, source,
    transform(source, [0, 1, 2], ['sensor', 'hotline', 'patrol'], 'unknown') AS channel,
    count() AS events,
    countIf(bitAnd(flags, 1) = 1) AS fixed_on_spot,
    countIf(bitAnd(flags, 2) = 2) AS late
FROM {db}.events FINAL
GROUP BY minute, source;
