-- Patrols of the period ({period}) starting {start} against the rule of each level, those who
-- missed it first. Placeholders: {db}, {period}, {start}.
SELECT
    inspector_id, level, department, patrols, patrol_days, own_area_patrols, metres,
    streets_walked, own_area_coverage, rule_per, min_patrols, units, units_met, met
FROM {db}.kpi_patrol_rule
WHERE period = '{period}' AND period_start = toDate('{start}') AND judged = 1
ORDER BY met, level, department, inspector_id
