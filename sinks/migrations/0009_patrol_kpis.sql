-- Foot patrol (铁脚板) KPIs on the tables of 0008. Placeholders: {db}, {tz}. Definitions:
-- docs/bi/kpis.md; the executable ones are sinks/reference_patrols.py. Days, weeks and
-- months are local ({tz}); a session counts on the day it started, a visit on the day it
-- started, a patrol report on the day of its event_time.

-- The roster's home areas (streams/data/inspectors.csv), one row per home street (street_id
-- of the street network; the whole district "*" is every street) or home grid (grid_code),
-- with the inspector's level and department. Loaded whole from the roster file with a
-- higher revision each time; the views read the rows of the highest revision only, so an
-- inspector or street dropped from the file drops out.
CREATE TABLE IF NOT EXISTS {db}.inspector_areas (
    inspector_id String,
    level String,
    department String,
    street_id String,
    grid_code String,
    revision UInt32
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (inspector_id, street_id, grid_code);

-- Building block: every visit with its local day and whether it lies in the inspector's
-- home area (street_in_area: its street is a home street; in_area: that or its grid is a
-- home grid).
CREATE VIEW IF NOT EXISTS {db}.patrol_visit_facts AS
SELECT
    visit_id, session_id, inspector_id, level, department, segment_id, street_id,
    street_name, grid_code, started_at, ended_at, metres,
    toDate(started_at, '{tz}') AS day,
    toUInt8(has(area_streets, street_id)) AS street_in_area,
    toUInt8(street_in_area = 1 OR has(area_grids, grid_code)) AS in_area
FROM {db}.patrol_segment_visits FINAL
ANY LEFT JOIN (
    SELECT
        inspector_id,
        groupArrayIf(street_id, street_id != '') AS area_streets,
        groupArrayIf(grid_code, grid_code != '') AS area_grids
    FROM {db}.inspector_areas FINAL
    WHERE revision = (SELECT max(revision) FROM {db}.inspector_areas)
    GROUP BY inspector_id
) AS a USING inspector_id;

-- Building block: every session with its local day and whether it walked a segment of the
-- inspector's home area (a session without visits did not).
CREATE VIEW IF NOT EXISTS {db}.patrol_session_facts AS
SELECT
    session_id, inspector_id, level, department, started_at, ended_at, metres,
    toDate(started_at, '{tz}') AS day, in_area
FROM {db}.patrol_sessions FINAL
ANY LEFT JOIN (
    SELECT session_id, max(in_area) AS in_area
    FROM {db}.patrol_visit_facts
    GROUP BY session_id
) AS v USING session_id;

-- Building block: per inspector and period, the units of the rule (days for a per-day
-- rule, weeks by their Monday for a per-week rule) with at least min_patrols patrols, a
-- patrol being a day with a qualifying session (own_area rules: a session that walked the
-- home area). Days, not sessions: a patrol with a long pause is two sessions, and "three
-- patrols a week" means three days out. A week unit belongs to the week and to the month
-- of its Monday, never to a day.
CREATE VIEW IF NOT EXISTS {db}.patrol_rule_units_met AS
SELECT period, period_start, inspector_id, level, department, countIf(n >= min_patrols) AS units_met
FROM (
    SELECT inspector_id, level, department, per, min_patrols,
        if(per = 'week', toMonday(day), day) AS unit_start, uniqExact(day) AS n
    FROM (
        SELECT inspector_id, level, department, day, in_area FROM {db}.patrol_session_facts
    ) AS s
    ANY LEFT JOIN (
        SELECT level, per, min_patrols, own_area FROM {db}.patrol_level_rules FINAL
    ) AS r USING level
    WHERE per != '' AND (own_area = 0 OR in_area = 1)
    GROUP BY inspector_id, level, department, per, min_patrols, unit_start
)
ARRAY JOIN
    ['day', 'week', 'month'] AS period,
    [unit_start, toMonday(unit_start), toStartOfMonth(unit_start)] AS period_start
WHERE NOT (per = 'week' AND period = 'day')
GROUP BY period, period_start, inspector_id, level, department;

-- Building block: per period, the units of each kind of rule that are judged: the days on
-- which the district recorded any patrol session, and the weeks (by Monday) holding one.
CREATE VIEW IF NOT EXISTS {db}.patrol_rule_units AS
SELECT per, period, period_start, count() AS units
FROM (
    SELECT DISTINCT per, unit_start
    FROM (SELECT DISTINCT day FROM {db}.patrol_session_facts)
    ARRAY JOIN ['day', 'week'] AS per, [day, toMonday(day)] AS unit_start
)
ARRAY JOIN
    ['day', 'week', 'month'] AS period,
    [unit_start, toMonday(unit_start), toStartOfMonth(unit_start)] AS period_start
WHERE NOT (per = 'week' AND period = 'day')
GROUP BY per, period, period_start;

-- Building block: per inspector (and level, department) and period, what was walked. Every
-- inspector of the roster has a row in every period with patrol data, patrols or not.
CREATE VIEW IF NOT EXISTS {db}.patrol_activity AS
SELECT
    period, period_start, inspector_id, level, department,
    countIf(kind = 1) AS patrols,
    uniqExactIf(day, kind = 1) AS patrol_days,
    countIf(kind = 1 AND in_area = 1) AS own_area_patrols,
    sumIf(metres, kind = 2) AS metres,
    uniqExactIf(street_id, kind = 2) AS streets_walked,
    uniqExactIf(segment_id, kind = 2) AS segments_walked,
    max(home_streets) AS home_streets,
    uniqExactIf(street_id, kind = 2 AND in_area = 1) AS home_streets_walked,
    if(home_streets = 0, 0., 100. * home_streets_walked / home_streets) AS own_area_coverage
FROM (
    SELECT period, period_start, inspector_id, level, department, toUInt8(0) AS kind,
        period_start AS day, toUInt8(0) AS in_area, toFloat64(0) AS metres,
        '' AS street_id, toUInt32(0) AS segment_id, home_streets
    FROM (
        SELECT inspector_id, level, department, uniqExactIf(street_id, street_id != '') AS home_streets
        FROM {db}.inspector_areas FINAL
        WHERE revision = (SELECT max(revision) FROM {db}.inspector_areas)
        GROUP BY inspector_id, level, department
    ) AS roster
    CROSS JOIN (
        SELECT DISTINCT period, period_start
        FROM (SELECT DISTINCT day FROM {db}.patrol_session_facts)
        ARRAY JOIN
            ['day', 'week', 'month'] AS period,
            [day, toMonday(day), toStartOfMonth(day)] AS period_start
    ) AS periods
    UNION ALL
    SELECT period, period_start, inspector_id, level, department, toUInt8(1) AS kind,
        day, in_area, toFloat64(0) AS metres, '' AS street_id, toUInt32(0) AS segment_id,
        toUInt64(0) AS home_streets
    FROM {db}.patrol_session_facts
    ARRAY JOIN
        ['day', 'week', 'month'] AS period,
        [day, toMonday(day), toStartOfMonth(day)] AS period_start
    UNION ALL
    SELECT period, period_start, inspector_id, level, department, toUInt8(2) AS kind,
        day, street_in_area AS in_area, metres, street_id, segment_id,
        toUInt64(0) AS home_streets
    FROM {db}.patrol_visit_facts
    ARRAY JOIN
        ['day', 'week', 'month'] AS period,
        [day, toMonday(day), toStartOfMonth(day)] AS period_start
)
GROUP BY period, period_start, inspector_id, level, department;

-- Patrols per inspector (and level, department) and period against the rule of the level
-- (patrol_level_rules): `units` rule units judged in the period, `units_met` those with
-- enough qualifying patrols, `judged` = units > 0, `met` = judged and every unit met.
CREATE VIEW IF NOT EXISTS {db}.kpi_patrol_rule AS
SELECT
    period, period_start, inspector_id, level, department, patrols, patrol_days,
    own_area_patrols, metres, streets_walked, segments_walked, home_streets,
    home_streets_walked, own_area_coverage, rule_per, min_patrols, own_area, units,
    units_met,
    toUInt8(units > 0) AS judged,
    toUInt8(units > 0 AND units_met >= units) AS met
FROM (
    SELECT *
    FROM (
        SELECT *
        FROM {db}.patrol_activity
        ANY LEFT JOIN (
            SELECT level, per AS rule_per, min_patrols, own_area
            FROM {db}.patrol_level_rules FINAL
        ) AS r USING level
    ) AS a
    ANY LEFT JOIN (
        SELECT per AS rule_per, period, period_start, units FROM {db}.patrol_rule_units
    ) AS u USING (rule_per, period, period_start)
) AS au
ANY LEFT JOIN (
    SELECT period, period_start, inspector_id, level, department, units_met
    FROM {db}.patrol_rule_units_met
) AS m USING (period, period_start, inspector_id, level, department);

-- Walking per street and per segment and period: level 'segment' (segment_id the segment)
-- or 'street' (segment_id 0). `segments` and `length_m` are the network's (0 for a
-- street not in it); coverage = the share of the street's segments walked in the period.
CREATE VIEW IF NOT EXISTS {db}.kpi_street_coverage AS
SELECT
    period, period_start, level, street_id, unit_segment AS segment_id, street_name, visits,
    sessions,
    inspectors, metres, last_walked, segments_walked, segments, length_m,
    if(segments = 0, 0., 100. * segments_walked / segments) AS coverage
FROM (
    SELECT
        period, period_start, level, street_id,
        if(level = 'segment', segment_id, toUInt32(0)) AS unit_segment,
        any(street_name) AS street_name,
        count() AS visits,
        uniqExact(session_id) AS sessions,
        uniqExact(inspector_id) AS inspectors,
        sum(metres) AS metres,
        max(ended_at) AS last_walked,
        uniqExact(segment_id) AS segments_walked
    FROM (
        SELECT period, period_start, street_id, segment_id, street_name, session_id,
            inspector_id, metres, ended_at
        FROM {db}.patrol_visit_facts
        ARRAY JOIN
            ['day', 'week', 'month'] AS period,
            [day, toMonday(day), toStartOfMonth(day)] AS period_start
    )
    ARRAY JOIN ['segment', 'street'] AS level
    GROUP BY period, period_start, level, street_id, unit_segment
) AS w
ANY LEFT JOIN (
    SELECT level, street_id, if(level = 'segment', segment_id, toUInt32(0)) AS unit_segment,
        count() AS segments, sum(length_m) AS length_m
    FROM (
        SELECT segment_id, street_id, length_m
        FROM {db}.street_segments FINAL
        WHERE revision = (SELECT max(revision) FROM {db}.street_segments)
    )
    ARRAY JOIN ['segment', 'street'] AS level
    GROUP BY level, street_id, unit_segment
) AS n USING (level, street_id, unit_segment);

-- Every street of the network (latest revision) with when it was last walked, ever:
-- never walked streets have last_walked = 0 (1970-01-01) and days_since_walked counted from
-- that day, so `WHERE days_since_walked >= N` lists them with the streets not walked for N
-- days. days_since_walked: local days from the last walk's day to today.
CREATE VIEW IF NOT EXISTS {db}.kpi_streets_not_walked AS
SELECT
    street_id,
    any(street_name) AS street_name,
    count() AS segments,
    sum(length_m) AS length_m,
    countIf(visits > 0) AS segments_walked,
    segments - segments_walked AS segments_not_walked,
    max(last) AS last_walked,
    toUInt8(segments_walked = 0) AS never_walked,
    toInt32(toRelativeDayNum(toDate(now(), '{tz}')))
        - toInt32(toRelativeDayNum(toDate(last_walked, '{tz}'))) AS days_since_walked
FROM (
    SELECT segment_id, street_id, street_name, length_m
    FROM {db}.street_segments FINAL
    WHERE revision = (SELECT max(revision) FROM {db}.street_segments)
) AS n
ANY LEFT JOIN (
    SELECT segment_id, count() AS visits, max(ended_at) AS last
    FROM {db}.patrol_segment_visits FINAL
    GROUP BY segment_id
) AS v USING segment_id
GROUP BY street_id;

-- Building block: a patrol report (events, source 2) made in a session of its reporter:
-- the session of the same inspector whose [started_at - 5 min, ended_at + 5 min] holds its
-- event_time (the earliest starting one if two do). fixed: flags bit 0, fixed on the spot.
CREATE VIEW IF NOT EXISTS {db}.patrol_findings AS
SELECT
    event_id,
    argMin(session_id, started_at) AS session_id,
    argMin(department, started_at) AS department,
    any(t) AS event_time,
    any(on_spot) AS fixed
FROM (
    SELECT event_id, reporter AS inspector_id, event_time AS t, bitAnd(flags, 1) AS on_spot
    FROM {db}.events FINAL
    WHERE source = 2
) AS e
ALL INNER JOIN (
    SELECT inspector_id, session_id, department, started_at, ended_at
    FROM {db}.patrol_sessions FINAL
) AS s USING inspector_id
WHERE t >= started_at - 300 AND t <= ended_at + 300
GROUP BY event_id;

-- Building block: the street of a finding: that of its session's visit nearest in time (0
-- inside the visit; ties to the earlier visit). A session without visits gives no street.
CREATE VIEW IF NOT EXISTS {db}.patrol_finding_streets AS
SELECT
    event_id,
    argMin(street_id, rank) AS street_id,
    argMin(street_name, rank) AS street_name
FROM (
    SELECT event_id, street_id, street_name,
        toUInt64(multiIf(
            event_time < started_at, toUInt32(started_at) - toUInt32(event_time),
            event_time > ended_at, toUInt32(event_time) - toUInt32(ended_at),
            0)) * 4294967296 + toUInt32(started_at) AS rank
    FROM (
        SELECT event_id, session_id, event_time FROM {db}.patrol_findings
    ) AS f
    ALL INNER JOIN (
        SELECT session_id, street_id, street_name, started_at, ended_at
        FROM {db}.patrol_segment_visits FINAL
    ) AS v USING session_id
)
GROUP BY event_id;

-- Problems found on patrol per km walked and the share fixed on the spot, per department
-- (the session's), street (the finding's street, and the metres walked on it) and district
-- (unit ''). Findings count on the day of the report, metres on the day of the visit.
CREATE VIEW IF NOT EXISTS {db}.kpi_patrol_findings AS
SELECT
    period, period_start, level, unit,
    if(level = 'street', any(street_name), '') AS name,
    sum(found) AS findings,
    sum(fixed) AS fixed_on_spot,
    sum(metres) / 1000. AS km_walked,
    if(km_walked = 0, 0., findings / km_walked) AS findings_per_km,
    if(findings = 0, 0., 100. * fixed_on_spot / findings) AS fixed_share
FROM (
    SELECT period, period_start, department, street_id, street_name, found, fixed, metres
    FROM (
        SELECT toDate(event_time, '{tz}') AS day, department, street_id, street_name,
            toUInt32(1) AS found, toUInt32(fixed) AS fixed, toFloat64(0) AS metres
        FROM {db}.patrol_findings
        ANY LEFT JOIN (
            SELECT event_id, street_id, street_name FROM {db}.patrol_finding_streets
        ) AS fs USING event_id
        UNION ALL
        SELECT day, department, street_id, street_name, toUInt32(0) AS found,
            toUInt32(0) AS fixed, metres
        FROM {db}.patrol_visit_facts
    )
    ARRAY JOIN
        ['day', 'week', 'month'] AS period,
        [day, toMonday(day), toStartOfMonth(day)] AS period_start
)
ARRAY JOIN
    ['department', 'street', 'district'] AS level,
    [department, street_id, ''] AS unit
WHERE NOT (level != 'district' AND unit = '')
GROUP BY period, period_start, level, unit;
