-- Verification (核查) and hold time (缓办). Placeholders: {db}, {tz}. Definitions:
-- docs/bi/kpis.md; the executable one is sinks/reference.py (verification).

-- Clock seconds a case spent on hold (finished holds). A hold pauses the handling deadline:
-- `deadline` is 0 while the case is on hold and moved on by the hold after the resume.
ALTER TABLE {db}.cases ADD COLUMN hold_s UInt32;

-- Verify tasks (verify.tasks): one row per task_id = "{case_id}:v{rework_round}"; the
-- settled record (version 1: passed, failed or voided) replaces the open one (version 0).
CREATE TABLE IF NOT EXISTS {db}.verify_tasks (
    task_id String,
    version UInt8,
    case_id UInt64,
    rework_round UInt16,
    supervisor String,
    basis String,
    department String,
    category_key String,
    grid_code String,
    street String,
    area String,
    issued_at DateTime,
    due_at DateTime,
    status String,
    settled_at DateTime,
    note String
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(issued_at)
ORDER BY task_id;

-- 按期核查率 per reporting unit: level is 'department', 'grid', 'street', 'supervisor' or
-- 'district' (unit ''). A task is due (应核查) once verified, or once its due time passed,
-- on the earlier of the two; voided tasks are never due. Rates are percentages.
CREATE VIEW IF NOT EXISTS {db}.kpi_verification AS
SELECT
    period, period_start, level, unit,
    count() AS due,
    sum(verified) AS verified,
    sum(on_time) AS verified_on_time,
    sum(passed) AS passed,
    sum(failed) AS failed,
    if(due = 0, 0., 100. * verified_on_time / due) AS on_time_verification_rate,
    if(verified = 0, 0., 100. * failed / verified) AS fail_rate
FROM (
    SELECT
        period, period_start, department, grid_code, street, supervisor,
        verified, on_time, passed, failed
    FROM (
        SELECT
            department, grid_code, street, supervisor,
            toUInt8(status = 'passed') AS passed,
            toUInt8(status = 'failed') AS failed,
            toUInt8(passed = 1 OR failed = 1) AS verified,
            toUInt8(verified = 1 AND settled_at <= due_at) AS on_time,
            multiIf(
                status = 'voided', toDateTime(0),
                verified = 1, least(settled_at, due_at),
                due_at <= now(), due_at,
                toDateTime(0)) AS due_time,
            toDate(due_time, '{tz}') AS day
        FROM {db}.verify_tasks FINAL
        WHERE due_time > toDateTime(0)
    )
    ARRAY JOIN
        ['day', 'week', 'month'] AS period,
        [day, toMonday(day), toStartOfMonth(day)] AS period_start
)
ARRAY JOIN
    ['department', 'grid', 'street', 'supervisor', 'district'] AS level,
    [department, grid_code, street, supervisor, ''] AS unit
WHERE NOT (level = 'department' AND unit = '')
GROUP BY period, period_start, level, unit;
