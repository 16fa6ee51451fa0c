-- Escalations (case.escalations): 催办 (remind), 督办 (supervise), then department_head and
-- district_leader (streams/cases/escalation.py). Placeholders: {db}, {tz}. Definitions:
-- docs/bi/kpis.md; the executable one is sinks/reference.py (escalations).

-- One row per escalation_id = "{case_id}:{level}"; a re-sent escalation (a worker crashed
-- between the send and its table write) is the same row. escalated_at is when the case
-- crossed the level's threshold, on the pipeline clock.
CREATE TABLE IF NOT EXISTS {db}.escalations (
    escalation_id String,
    case_id UInt64,
    level String,
    department String,
    category_key String,
    grid_code String,
    street String,
    dispatched_at DateTime,
    deadline DateTime,
    escalated_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(escalated_at)
ORDER BY escalation_id;

-- Escalations per department, level and period (day, week, month of escalated_at), and
-- the district's (department ''): what the dispatch meetings read out.
CREATE VIEW IF NOT EXISTS {db}.kpi_escalations AS
SELECT
    period, period_start, department, level,
    count() AS escalations
FROM (
    SELECT period, period_start, dept, level
    FROM (
        SELECT department AS dept, level, toDate(escalated_at, '{tz}') AS day
        FROM {db}.escalations FINAL
    )
    ARRAY JOIN
        ['day', 'week', 'month'] AS period,
        [day, toMonday(day), toStartOfMonth(day)] AS period_start
)
ARRAY JOIN [dept, ''] AS department
GROUP BY period, period_start, department, level;
