-- Campaigns (每月一主题、每月一领域) and their results, with lasting results (长效保持) after
-- them. Placeholders: {db}, {tz}. Definitions: docs/bi/kpis.md (Campaigns); the executable
-- ones are sinks/reference_campaigns.py. The sink loads both tables from the campaign
-- calendar (streams/data/campaigns.csv, sinks/campaigns.py) when it starts; a changed
-- file is loaded whole with a higher revision and the views read the rows of each table's
-- highest revision only, so a campaign dropped from the file drops out.

-- One row per campaign of the calendar. categories, streets and areas are the file's
-- lists (';'-separated) for display; campaign_scope holds what the views match on.
CREATE TABLE IF NOT EXISTS {db}.campaigns (
    campaign_id String,
    theme String,
    name_zh String,
    name_en String,
    categories String,
    streets String,
    areas String,
    whole_district UInt8,
    start_date Date,
    end_date Date,
    target_metric String,
    target_value Float64,
    revision UInt32
) ENGINE = ReplacingMergeTree(revision)
ORDER BY campaign_id;

-- What a campaign covers: one row per category (grid_code '') and one per unit grid of its
-- area (category_key ''); a whole-district campaign has no grid rows.
CREATE TABLE IF NOT EXISTS {db}.campaign_scope (
    campaign_id String,
    category_key String,
    grid_code String,
    revision UInt32
) ENGINE = ReplacingMergeTree(revision)
ORDER BY (campaign_id, category_key, grid_code);

-- Building block: every case (case_facts) of a campaign's categories in its area, whenever
-- opened, with the campaign's dates: opened_day and due_day are local days, is_due marks a
-- case with a due milestone (kpi_case_counts: handled, or past its deadline).
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
            SELECT campaign_id, category_key
            FROM {db}.campaign_scope FINAL
            WHERE category_key != ''
                AND revision = (SELECT max(revision) FROM {db}.campaign_scope)
        ) AS k USING category_key
    ) AS fk
    ALL INNER JOIN (
        SELECT campaign_id, start_date, end_date, whole_district
        FROM {db}.campaigns FINAL
        WHERE revision = (SELECT max(revision) FROM {db}.campaigns)
    ) AS c USING campaign_id
) AS fc
ANY LEFT JOIN (
    SELECT campaign_id, grid_code, toUInt8(1) AS in_area
    FROM {db}.campaign_scope FINAL
    WHERE grid_code != '' AND revision = (SELECT max(revision) FROM {db}.campaign_scope)
) AS g USING (campaign_id, grid_code)
WHERE whole_district = 1 OR in_area = 1;

-- Lasting results (长效保持) per campaign and window of `days` (30, 60, 90): cases of its
-- categories and area opened in the `days` local days after its end against those opened
-- in the `days` days before its start; recurrences (cases flagged recurrence_of) among
-- them; campaign_recurrences: the cases after it that recur a case found during it.
-- after_share and recurrence_share: the after window as a percentage of the before window
-- (0 when the before window is 0). complete: the after window is over (local today).
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
    FROM {db}.campaigns FINAL
    ARRAY JOIN [30, 60, 90] AS days
    WHERE revision = (SELECT max(revision) FROM {db}.campaigns)
) AS c
ANY LEFT JOIN (
    SELECT
        campaign_id, days,
        countIf(before = 1) AS before_cases,
        countIf(after = 1) AS after_cases,
        countIf(before = 1 AND recurrence_of != 0) AS before_recurrences,
        countIf(after = 1 AND recurrence_of != 0) AS after_recurrences,
        countIf(after = 1 AND of_campaign = 1) AS campaign_recurrences
    FROM (
        SELECT
            campaign_id, days, recurrence_of, of_campaign,
            toUInt8(opened_day >= subtractDays(start_date, days) AND opened_day < start_date)
                AS before,
            toUInt8(opened_day > end_date AND opened_day <= addDays(end_date, days)) AS after
        FROM (
            SELECT campaign_id, start_date, end_date, recurrence_of, opened_day
            FROM {db}.campaign_case_facts
            WHERE voided = 0
        ) AS a
        ANY LEFT JOIN (
            SELECT campaign_id, case_id AS recurrence_of, toUInt8(1) AS of_campaign
            FROM {db}.campaign_case_facts
            WHERE voided = 0 AND opened_day >= start_date AND opened_day <= end_date
        ) AS d USING (campaign_id, recurrence_of)
        ARRAY JOIN [30, 60, 90] AS days
    )
    GROUP BY campaign_id, days
) AS n USING (campaign_id, days);

-- Results per campaign, from its first to its last day (local): found = cases of its
-- categories and area opened in it (voided ones aside), fixed = those closed so far
-- (fixed_on_spot: closed on the spot), found_recurrences = those flagged recurrence_of;
-- due, closed, closed_on_time and the two rates count the cases due in it exactly as
-- kpi_units does for a period. The target (target_metric, target_value: docs/bi/kpis.md)
-- is judged once its window is over: the campaign for the closure rates, the after window
-- for after_share_N; target_actual is the metric's value.
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
        FROM {db}.campaigns FINAL
        WHERE revision = (SELECT max(revision) FROM {db}.campaigns)
    ) AS c
    ANY LEFT JOIN (
        SELECT
            campaign_id,
            countIf(was_found = 1) AS found,
            countIf(was_found = 1 AND is_closed = 1) AS fixed,
            countIf(was_found = 1 AND closed_on_spot = 1) AS fixed_on_spot,
            countIf(was_found = 1 AND recurrence_of != 0) AS found_recurrences,
            countIf(was_due = 1) AS due,
            countIf(was_due = 1 AND is_closed = 1) AS closed,
            countIf(was_due = 1 AND closed_on_time = 1) AS closed_on_time
        FROM (
            SELECT
                campaign_id, is_closed, closed_on_spot, closed_on_time, recurrence_of,
                toUInt8(voided = 0 AND opened_day >= start_date AND opened_day <= end_date)
                    AS was_found,
                toUInt8(is_due = 1 AND due_day >= start_date AND due_day <= end_date) AS was_due
            FROM {db}.campaign_case_facts
        )
        GROUP BY campaign_id
    ) AS n USING campaign_id
) AS cn
ANY LEFT JOIN (
    SELECT
        campaign_id,
        sumIf(after_share, days = 30) AS after_share_30,
        sumIf(after_share, days = 60) AS after_share_60,
        sumIf(after_share, days = 90) AS after_share_90
    FROM {db}.kpi_campaign_recurrence
    GROUP BY campaign_id
) AS r USING campaign_id;
