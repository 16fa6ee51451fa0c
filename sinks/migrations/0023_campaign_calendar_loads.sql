-- The campaign calendar in force is the last load that finished, even an empty one
-- (docs/bi/kpis.md, Tables, campaigns). 0022 took the highest revision both calendar
-- tables hold: a load of an empty calendar (a district whose campaigns were all taken out
-- of the file) writes no row, so the previous calendar stayed in force for ever. Now a load
-- writes both tables with its revision (as in 0022) and then one row here, its commit
-- (sinks/campaigns.py); the views read the revision of the newest commit. A load that stopped
-- before its commit is not in force, as before, and an empty calendar in force shows no
-- campaign. The views are 0022's but for that rule (campaign_counts reads
-- campaign_case_facts and is made again unchanged). Placeholders: {db}, {tz}.

CREATE TABLE IF NOT EXISTS {db}.campaign_loads (
    revision UInt32,
    loaded_at DateTime
) ENGINE = MergeTree()
ORDER BY revision;

ALTER TABLE {db}.campaign_loads
    COMMENT COLUMN revision 'a calendar load that finished: its revision of campaigns and campaign_scope; the highest is in force',
    COMMENT COLUMN loaded_at 'when the load finished';

-- The calendar in force under 0022's rule becomes the first commit: what readers saw is
-- what they see. Nothing is written for a store that holds no calendar.
INSERT INTO {db}.campaign_loads (revision, loaded_at)
SELECT in_force, now()
FROM (
    SELECT max(revision) AS in_force FROM {db}.campaigns
    WHERE revision IN (SELECT revision FROM {db}.campaign_scope)
)
WHERE in_force > 0;

-- The rule, once: the revision of the newest finished load (0 when none: no calendar).
CREATE VIEW IF NOT EXISTS {db}.campaign_calendar_in_force AS
SELECT max(revision) AS revision FROM {db}.campaign_loads;

DROP TABLE IF EXISTS {db}.kpi_campaigns;

DROP TABLE IF EXISTS {db}.kpi_campaign_recurrence;

DROP TABLE IF EXISTS {db}.campaign_counts;

DROP TABLE IF EXISTS {db}.campaign_case_facts;

-- campaign_case_facts (0012, 0022): every case of a campaign's categories in its area.
CREATE VIEW IF NOT EXISTS {db}.campaign_case_facts AS
SELECT
    campaign_id, start_date, end_date, case_id, category_key, grid_code, recurrence_of,
    voided, is_closed, closed_on_time, closed_on_spot, opened_day, due_day, is_due
FROM (
    SELECT
        campaign_id, case_id, category_key, grid_code, recurrence_of, voided, is_closed,
        closed_on_time, closed_on_spot, opened_day, due_day, is_due, start_date, end_date,
        whole_district
    FROM (
        SELECT
            campaign_id, case_id, category_key, grid_code, recurrence_of, voided, is_closed,
            closed_on_time, closed_on_spot, opened_day, due_day, is_due
        FROM (
            SELECT
                case_id, category_key, grid_code, recurrence_of, voided, is_closed,
                closed_on_time, closed_on_spot,
                toDate(opened_at, '{tz}') AS opened_day,
                toDate(due_at, '{tz}') AS due_day,
                toUInt8(due_at > toDateTime(0)) AS is_due
            FROM {db}.case_facts
        ) AS f
        ALL INNER JOIN (
            SELECT DISTINCT campaign_id, category_key
            FROM {db}.campaign_scope
            WHERE category_key != ''
                AND revision = (SELECT revision FROM {db}.campaign_calendar_in_force)
        ) AS k USING category_key
    ) AS fk
    ALL INNER JOIN (
        SELECT campaign_id, start_date, end_date, whole_district
        FROM {db}.campaigns
        WHERE revision = (SELECT revision FROM {db}.campaign_calendar_in_force)
        LIMIT 1 BY campaign_id
    ) AS c USING campaign_id
) AS fc
ANY LEFT JOIN (
    SELECT campaign_id, grid_code, toUInt8(1) AS in_area
    FROM {db}.campaign_scope
    WHERE grid_code != '' AND revision = (SELECT revision FROM {db}.campaign_calendar_in_force)
) AS g USING (campaign_id, grid_code)
WHERE whole_district = 1 OR in_area = 1;

-- campaign_counts (0020, 0022), unchanged: it reads campaign_case_facts, made again after it
-- (a current release does not drop a view another one reads).
CREATE VIEW IF NOT EXISTS {db}.campaign_counts AS
SELECT
    campaign_id,
    sum(k_found) AS found,
    sum(k_fixed) AS fixed,
    sum(k_fixed_on_spot) AS fixed_on_spot,
    sum(k_found_recurrences) AS found_recurrences,
    sum(k_due) AS due,
    sum(k_closed) AS closed,
    sum(k_closed_on_time) AS closed_on_time,
    sum(k_before_30) AS before_cases_30,
    sum(k_after_30) AS after_cases_30,
    sum(k_before_rec_30) AS before_recurrences_30,
    sum(k_after_rec_30) AS after_recurrences_30,
    sum(is_target * k_pointing_30) AS campaign_recurrences_30,
    sum(k_before_60) AS before_cases_60,
    sum(k_after_60) AS after_cases_60,
    sum(k_before_rec_60) AS before_recurrences_60,
    sum(k_after_rec_60) AS after_recurrences_60,
    sum(is_target * k_pointing_60) AS campaign_recurrences_60,
    sum(k_before_90) AS before_cases_90,
    sum(k_after_90) AS after_cases_90,
    sum(k_before_rec_90) AS before_recurrences_90,
    sum(k_after_rec_90) AS after_recurrences_90,
    sum(is_target * k_pointing_90) AS campaign_recurrences_90
FROM (
    SELECT
        campaign_id, key,
        max(mine * was_found) AS is_target,
        sum(mine * was_found) AS k_found,
        sum(mine * was_found * is_closed) AS k_fixed,
        sum(mine * was_found * closed_on_spot) AS k_fixed_on_spot,
        sum(mine * was_found * recurs) AS k_found_recurrences,
        sum(mine * was_due) AS k_due,
        sum(mine * was_due * is_closed) AS k_closed,
        sum(mine * was_due * closed_on_time) AS k_closed_on_time,
        sum(mine * before_30) AS k_before_30,
        sum(mine * after_30) AS k_after_30,
        sum(mine * before_30 * recurs) AS k_before_rec_30,
        sum(mine * after_30 * recurs) AS k_after_rec_30,
        sum((1 - mine) * after_30) AS k_pointing_30,
        sum(mine * before_60) AS k_before_60,
        sum(mine * after_60) AS k_after_60,
        sum(mine * before_60 * recurs) AS k_before_rec_60,
        sum(mine * after_60 * recurs) AS k_after_rec_60,
        sum((1 - mine) * after_60) AS k_pointing_60,
        sum(mine * before_90) AS k_before_90,
        sum(mine * after_90) AS k_after_90,
        sum(mine * before_90 * recurs) AS k_before_rec_90,
        sum(mine * after_90 * recurs) AS k_after_rec_90,
        sum((1 - mine) * after_90) AS k_pointing_90
    FROM (
        SELECT
            campaign_id, is_closed, closed_on_spot, closed_on_time, recurs,
            was_found, was_due, before_30, before_60, before_90, after_30, after_60, after_90,
            toUInt8(role = 0) AS mine,
            if(role = 0, if(was_found = 1, case_id, 0), recurrence_of) AS key
        FROM (
            SELECT
                campaign_id, case_id, recurrence_of, is_closed, closed_on_spot, closed_on_time,
                toUInt8(recurrence_of != 0) AS recurs,
                toUInt8(opened_day >= start_date AND opened_day <= end_date) AS was_found,
                toUInt8(is_due = 1 AND due_day >= start_date AND due_day <= end_date) AS was_due,
                toUInt8(opened_day >= subtractDays(start_date, 30) AND opened_day < start_date)
                    AS before_30,
                toUInt8(opened_day >= subtractDays(start_date, 60) AND opened_day < start_date)
                    AS before_60,
                toUInt8(opened_day >= subtractDays(start_date, 90) AND opened_day < start_date)
                    AS before_90,
                toUInt8(opened_day > end_date AND opened_day <= addDays(end_date, 30)) AS after_30,
                toUInt8(opened_day > end_date AND opened_day <= addDays(end_date, 60)) AS after_60,
                toUInt8(opened_day > end_date AND opened_day <= addDays(end_date, 90)) AS after_90
            FROM {db}.campaign_case_facts
            WHERE voided = 0
        )
        ARRAY JOIN if(recurs = 1 AND after_90 = 1, [0, 1], [0]) AS role
    )
    GROUP BY campaign_id, key
)
GROUP BY campaign_id;

-- kpi_campaign_recurrence (0020, 0022).
CREATE VIEW IF NOT EXISTS {db}.kpi_campaign_recurrence AS
SELECT
    campaign_id, theme, days, start_date, end_date,
    subtractDays(start_date, days) AS before_from,
    subtractDays(start_date, 1) AS before_to,
    addDays(end_date, 1) AS after_from,
    addDays(end_date, days) AS after_to,
    toUInt8(toDate(now(), '{tz}') > after_to) AS complete,
    before_cases, after_cases, before_recurrences, after_recurrences, campaign_recurrences,
    if(before_cases = 0, 0., 100. * after_cases / before_cases) AS after_share,
    if(before_recurrences = 0, 0., 100. * after_recurrences / before_recurrences)
        AS recurrence_share
FROM (
    SELECT campaign_id, theme, start_date, end_date, days
    FROM (
        SELECT campaign_id, theme, start_date, end_date
        FROM {db}.campaigns
        WHERE revision = (SELECT revision FROM {db}.campaign_calendar_in_force)
        LIMIT 1 BY campaign_id
    )
    ARRAY JOIN [30, 60, 90] AS days
) AS c
ANY LEFT JOIN (
    SELECT
        campaign_id, days, before_cases, after_cases, before_recurrences, after_recurrences,
        campaign_recurrences
    FROM {db}.campaign_counts
    ARRAY JOIN
        [30, 60, 90] AS days,
        [before_cases_30, before_cases_60, before_cases_90] AS before_cases,
        [after_cases_30, after_cases_60, after_cases_90] AS after_cases,
        [before_recurrences_30, before_recurrences_60, before_recurrences_90] AS before_recurrences,
        [after_recurrences_30, after_recurrences_60, after_recurrences_90] AS after_recurrences,
        [campaign_recurrences_30, campaign_recurrences_60, campaign_recurrences_90]
            AS campaign_recurrences
) AS n USING (campaign_id, days);

-- kpi_campaigns (0020, 0022).
CREATE VIEW IF NOT EXISTS {db}.kpi_campaigns AS
SELECT
    campaign_id, theme, name_zh, name_en, categories, streets, areas, whole_district,
    start_date, end_date,
    toUInt32(toRelativeDayNum(end_date) - toRelativeDayNum(start_date) + 1) AS days,
    found, fixed, fixed_on_spot, found_recurrences,
    if(found = 0, 0., 100. * fixed / found) AS fixed_share,
    due, closed, closed_on_time,
    if(due = 0, 0., 100. * closed / due) AS closure_rate,
    if(due = 0, 0., 100. * closed_on_time / due) AS on_time_closure_rate,
    after_share_30, after_share_60, after_share_90,
    target_metric, target_value,
    multiIf(
        target_metric = 'closure_rate', closure_rate,
        target_metric = 'on_time_closure_rate', on_time_closure_rate,
        target_metric = 'after_share_30', after_share_30,
        target_metric = 'after_share_60', after_share_60,
        target_metric = 'after_share_90', after_share_90,
        0.) AS target_actual,
    toUInt8(target_metric != '' AND toDate(now(), '{tz}') > multiIf(
        target_metric = 'after_share_30', addDays(end_date, 30),
        target_metric = 'after_share_60', addDays(end_date, 60),
        target_metric = 'after_share_90', addDays(end_date, 90),
        end_date)) AS target_judged,
    toUInt8(target_judged = 1 AND if(
        startsWith(target_metric, 'after_share_'),
        target_actual <= target_value,
        target_actual >= target_value)) AS target_met
FROM (
    SELECT *
    FROM (
        SELECT
            campaign_id, theme, name_zh, name_en, categories, streets, areas,
            whole_district, start_date, end_date, target_metric, target_value
        FROM {db}.campaigns
        WHERE revision = (SELECT revision FROM {db}.campaign_calendar_in_force)
        LIMIT 1 BY campaign_id
    ) AS c
    ANY LEFT JOIN (
        SELECT
            campaign_id, found, fixed, fixed_on_spot, found_recurrences, due, closed,
            closed_on_time,
            if(before_cases_30 = 0, 0., 100. * after_cases_30 / before_cases_30)
                AS after_share_30,
            if(before_cases_60 = 0, 0., 100. * after_cases_60 / before_cases_60)
                AS after_share_60,
            if(before_cases_90 = 0, 0., 100. * after_cases_90 / before_cases_90)
                AS after_share_90
        FROM {db}.campaign_counts
    ) AS n USING campaign_id
);
