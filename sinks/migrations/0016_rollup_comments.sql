-- Column comments of the KPI rollup tables (0015), for the BI tools: every stored column
-- has one (tests/unit/sinks/test_sinks_column_comments.py).

ALTER TABLE {db}.rollup_generations
    COMMENT COLUMN family 'rollup family: cases, intake, escalations, minutes, verification',
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN signature 'highest block and mutation of the source partition at the refresh';

ALTER TABLE {db}.rollup_case_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN pending '1: a case or task not due at the refresh, counted once its deadline passes',
    COMMENT COLUMN r_period 'day, week, half_month or month (empty for pending rows)',
    COMMENT COLUMN r_period_start 'first day of the period (local)',
    COMMENT COLUMN department 'department in charge',
    COMMENT COLUMN street 'street (街道) code',
    COMMENT COLUMN community 'community (社区) code',
    COMMENT COLUMN grid_code 'unit grid code, empty if outside every grid',
    COMMENT COLUMN r_deadline 'the handling deadline of pending rows (0 otherwise)',
    COMMENT COLUMN n_opened 'cases opened',
    COMMENT COLUMN n_due 'cases due (应结案)',
    COMMENT COLUMN n_handled 'cases handled',
    COMMENT COLUMN n_handled_on_time 'cases handled by their deadline',
    COMMENT COLUMN n_closed 'cases closed',
    COMMENT COLUMN n_closed_on_time 'cases closed on time (按期结案)',
    COMMENT COLUMN n_reworked 'cases sent back for rework',
    COMMENT COLUMN n_dispatched 'cases dispatched',
    COMMENT COLUMN n_dispatched_on_time 'cases dispatched on time',
    COMMENT COLUMN n_closed_in_period 'cases closed within the period',
    COMMENT COLUMN n_recurrences 'cases flagged recurrence_of',
    COMMENT COLUMN sum_lat 'sum of the latitudes of the cases (for mean positions)',
    COMMENT COLUMN sum_lon 'sum of the longitudes of the cases (for mean positions)';

ALTER TABLE {db}.rollup_intake_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN r_period 'day, week, half_month or month (empty for pending rows)',
    COMMENT COLUMN r_period_start 'first day of the period (local)',
    COMMENT COLUMN source 'channel: 0 sensor, 1 hotline, 2 patrol',
    COMMENT COLUMN n_reports 'reports received',
    COMMENT COLUMN n_new 'reports that opened a case',
    COMMENT COLUMN n_fixed 'reports fixed on the spot',
    COMMENT COLUMN n_recurrences 'reports that opened a recurrence',
    COMMENT COLUMN n_late 'reports flagged late',
    COMMENT COLUMN n_beyond 'reports beyond the dedup state',
    COMMENT COLUMN cases 'set of the case ids the reports joined (uniqExact state)';

ALTER TABLE {db}.rollup_escalation_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN r_period 'day, week, half_month or month (empty for pending rows)',
    COMMENT COLUMN r_period_start 'first day of the period (local)',
    COMMENT COLUMN department 'department in charge',
    COMMENT COLUMN level 'remind, supervise, department_head or district_leader',
    COMMENT COLUMN n_escalations 'escalations raised';

ALTER TABLE {db}.rollup_minute_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN minute 'the minute of arrival (UTC)',
    COMMENT COLUMN source 'channel: 0 sensor, 1 hotline, 2 patrol',
    COMMENT COLUMN n_events 'events',
    COMMENT COLUMN n_fixed 'events fixed on the spot',
    COMMENT COLUMN n_late 'events flagged late';

ALTER TABLE {db}.rollup_verification_rows
    COMMENT COLUMN month 'month (YYYYMM) of the source partition this row was computed from',
    COMMENT COLUMN generation 'the refresh that wrote it (rollup_generations); older generations are ignored',
    COMMENT COLUMN pending '1: a case or task not due at the refresh, counted once its deadline passes',
    COMMENT COLUMN r_period 'day, week, half_month or month (empty for pending rows)',
    COMMENT COLUMN r_period_start 'first day of the period (local)',
    COMMENT COLUMN department 'department in charge',
    COMMENT COLUMN grid_code 'unit grid code, empty if outside every grid',
    COMMENT COLUMN street 'street (街道) code',
    COMMENT COLUMN supervisor 'supervisor (监督员) of the verify task',
    COMMENT COLUMN r_due 'the verify deadline of pending rows',
    COMMENT COLUMN n_due 'verify tasks due',
    COMMENT COLUMN n_verified 'tasks verified',
    COMMENT COLUMN n_on_time 'tasks verified on time (按期核查)',
    COMMENT COLUMN n_passed 'verifications passed',
    COMMENT COLUMN n_failed 'verifications failed (返工)';
