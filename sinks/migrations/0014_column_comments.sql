-- Column comments for the BI tools (DBeaver, Superset, Metabase show them beside each
-- column). ALTER ... COMMENT COLUMN, which ClickHouse 18.16 and current releases share;
-- re-running it is harmless. A column added later gets its comment in its own migration
-- (tests/unit/sinks/test_sinks_column_comments.py fails on a column without one).

ALTER TABLE {db}.events
    COMMENT COLUMN event_id 'deterministic id of the report (dedup key)',
    COMMENT COLUMN source 'channel: 0 sensor, 1 hotline, 2 patrol',
    COMMENT COLUMN category 'category code of the report (streams/reference)',
    COMMENT COLUMN flags 'bit 0 fixed on the spot, bit 1 late, bit 2 beyond dedup state',
    COMMENT COLUMN lat 'latitude, WGS84 degrees',
    COMMENT COLUMN lon 'longitude, WGS84 degrees',
    COMMENT COLUMN event_time 'when the problem was observed (UTC)',
    COMMENT COLUMN ingest_time 'when the report reached the pipeline (UTC)',
    COMMENT COLUMN device_hash 'hash of the reporting device, 0 if none',
    COMMENT COLUMN source_ref 'the source system\'s own id of the report',
    COMMENT COLUMN device_id 'sensor or patrol terminal id, empty for hotline',
    COMMENT COLUMN reporter 'caller or inspector id, empty for sensors',
    COMMENT COLUMN department 'department named by the source, empty if none',
    COMMENT COLUMN text 'free text of the report',
    COMMENT COLUMN address 'address as reported',
    COMMENT COLUMN grid_code '15-digit unit grid code of the location, empty outside the grids';

ALTER TABLE {db}.links
    COMMENT COLUMN event_id 'the report (events.event_id)',
    COMMENT COLUMN case_id 'the case dedup linked the report to',
    COMMENT COLUMN source 'channel: 0 sensor, 1 hotline, 2 patrol',
    COMMENT COLUMN source_ref 'the source system\'s own id of the report',
    COMMENT COLUMN is_new '1 when the report opened the case, 0 when it joined one',
    COMMENT COLUMN recurrence_of '0, or the closed case a new case recurs',
    COMMENT COLUMN event_time 'when the problem was observed (UTC)',
    COMMENT COLUMN flags 'the event\'s flags plus bit 2 beyond dedup state';

ALTER TABLE {db}.cases
    COMMENT COLUMN case_id 'case id (dedup key)',
    COMMENT COLUMN version 'lifecycle seq * 2^32 + n_events: the highest row is current',
    COMMENT COLUMN category_key 'category of the case',
    COMMENT COLUMN department 'department dispatched to, empty until dispatched',
    COMMENT COLUMN grid_code '15-digit unit grid code',
    COMMENT COLUMN community 'community code (first 12 digits of grid_code)',
    COMMENT COLUMN street 'street code (first 9 digits of grid_code)',
    COMMENT COLUMN lat 'latitude of the first report, WGS84 degrees',
    COMMENT COLUMN lon 'longitude of the first report, WGS84 degrees',
    COMMENT COLUMN opened_at '立案: when the case was opened (UTC)',
    COMMENT COLUMN dispatched_at '派遣: when it was dispatched, 0 if not yet',
    COMMENT COLUMN deadline 'handling deadline, 0 while on hold or not dispatched',
    COMMENT COLUMN signed_at 'when the department signed for it, 0 if not yet',
    COMMENT COLUMN handled_at 'latest department feedback (处置), 0 if none',
    COMMENT COLUMN closed_at '结案: when the centre closed it, 0 if open',
    COMMENT COLUMN voided_at 'when it was voided, 0 if not',
    COMMENT COLUMN status 'opened, dispatched, signed, handled, closed, rework, on_hold, voided',
    COMMENT COLUMN rework_count 'times verification sent it back (返工)',
    COMMENT COLUMN recurrence_of '0, or the closed case this one recurs',
    COMMENT COLUMN n_events 'reports linked to the case',
    COMMENT COLUMN urgent '1 for an urgent case',
    COMMENT COLUMN fixed_on_spot '1 when a patrol fixed it on the spot',
    COMMENT COLUMN hold_s 'seconds on hold (缓办), finished holds';

ALTER TABLE {db}.case_stages
    COMMENT COLUMN transition_id 'case_id:seq',
    COMMENT COLUMN case_id 'the case',
    COMMENT COLUMN seq 'transition number within the case',
    COMMENT COLUMN action 'lifecycle action (dispatch, sign, handle, close, ...)',
    COMMENT COLUMN from_status 'status before the transition',
    COMMENT COLUMN to_status 'status after the transition',
    COMMENT COLUMN ts 'when the transition happened (UTC)',
    COMMENT COLUMN actor 'who made it (department, supervisor, centre)',
    COMMENT COLUMN department 'department concerned',
    COMMENT COLUMN update_id 'hotline request update that caused it, empty if none',
    COMMENT COLUMN note 'free text',
    COMMENT COLUMN deadline 'deadline after the transition, 0 if none',
    COMMENT COLUMN result 'outcome of a verification or callback, empty if none';

ALTER TABLE {db}.dispatches
    COMMENT COLUMN case_id 'the case (one dispatch order per case)',
    COMMENT COLUMN category_key 'category of the case',
    COMMENT COLUMN department 'department dispatched to',
    COMMENT COLUMN urgent '1 for an urgent case',
    COMMENT COLUMN opened_at 'when the case was opened (UTC)',
    COMMENT COLUMN dispatched_at 'when the order was sent (UTC)',
    COMMENT COLUMN dispatch_due 'when it was due to be dispatched',
    COMMENT COLUMN dispatched_on_time '1 when dispatched_at <= dispatch_due',
    COMMENT COLUMN deadline_value 'handling limit of the category, in deadline_unit',
    COMMENT COLUMN deadline_unit 'unit of deadline_value (hours, work days, ...)',
    COMMENT COLUMN deadline 'handling deadline computed with the work calendar (UTC)';

ALTER TABLE {db}.dead_letters
    COMMENT COLUMN dl_id 'hash of source, topic, partition, offset and the original bytes',
    COMMENT COLUMN source 'raw feed the record came from',
    COMMENT COLUMN reason 'why it was refused (streams/contracts/reasons.py)',
    COMMENT COLUMN message 'details of the refusal',
    COMMENT COLUMN original 'the record as received, base64',
    COMMENT COLUMN topic 'Kafka topic it was read from',
    COMMENT COLUMN partition 'Kafka partition',
    COMMENT COLUMN offset 'Kafka offset',
    COMMENT COLUMN received_at 'when the dead letter was written (UTC)';

ALTER TABLE {db}.patrol_tracks
    COMMENT COLUMN inspector_id 'inspector',
    COMMENT COLUMN role 'inspector role',
    COMMENT COLUMN department 'inspector department',
    COMMENT COLUMN ts 'GPS time (UTC)',
    COMMENT COLUMN lat 'latitude, WGS84 degrees',
    COMMENT COLUMN lon 'longitude, WGS84 degrees',
    COMMENT COLUMN grid_code 'unit grid of the point';

ALTER TABLE {db}.patrol_visits
    COMMENT COLUMN inspector_id 'inspector',
    COMMENT COLUMN role 'inspector role',
    COMMENT COLUMN department 'inspector department',
    COMMENT COLUMN grid_code 'unit grid visited',
    COMMENT COLUMN community 'community code',
    COMMENT COLUMN street 'street code',
    COMMENT COLUMN visited_at 'when the grid was visited (UTC)';

ALTER TABLE {db}.patrol_rules
    COMMENT COLUMN role 'inspector role the rule is for',
    COMMENT COLUMN min_days_per_week 'patrol days a week the role owes',
    COMMENT COLUMN description 'the rule in words',
    COMMENT COLUMN revision 'the highest revision per role is in force';

ALTER TABLE {db}.verify_tasks
    COMMENT COLUMN task_id 'case_id:v<rework_round>',
    COMMENT COLUMN version '0 open, 1 settled (the settled row replaces the open one)',
    COMMENT COLUMN case_id 'the case',
    COMMENT COLUMN rework_round 'verification round (0 first)',
    COMMENT COLUMN supervisor 'supervisor assigned (核查)',
    COMMENT COLUMN basis 'why this supervisor: reporter or roster',
    COMMENT COLUMN department 'department that handled the case',
    COMMENT COLUMN category_key 'category of the case',
    COMMENT COLUMN grid_code '15-digit unit grid code',
    COMMENT COLUMN street 'street code',
    COMMENT COLUMN area 'urban or rural (sets the time allowed)',
    COMMENT COLUMN issued_at 'when the department\'s feedback arrived (UTC)',
    COMMENT COLUMN due_at 'when the verification is due (UTC)',
    COMMENT COLUMN status 'open, passed, failed, voided',
    COMMENT COLUMN settled_at 'when it was settled, 0 if open',
    COMMENT COLUMN note 'a failure\'s reason';

ALTER TABLE {db}.request_updates
    COMMENT COLUMN update_id 'id of the update (dedup key)',
    COMMENT COLUMN event_id 'the hotline report updated',
    COMMENT COLUMN request_id 'the hotline system\'s request id',
    COMMENT COLUMN status 'status the hotline system reports',
    COMMENT COLUMN status_notes 'notes with the status',
    COMMENT COLUMN description 'updated description of the request',
    COMMENT COLUMN updated_at 'when the hotline system updated it (UTC)',
    COMMENT COLUMN received_at 'when the update reached the pipeline (UTC)';

ALTER TABLE {db}.patrol_sessions
    COMMENT COLUMN session_id 'device_id:first ping ms',
    COMMENT COLUMN inspector_id 'inspector',
    COMMENT COLUMN level 'inspector level (principal, section chief, staff)',
    COMMENT COLUMN department 'inspector department',
    COMMENT COLUMN device_id 'patrol terminal',
    COMMENT COLUMN started_at 'first ping (UTC)',
    COMMENT COLUMN ended_at 'last ping (UTC)',
    COMMENT COLUMN points 'pings in the session',
    COMMENT COLUMN matched_points 'pings matched to a street segment',
    COMMENT COLUMN metres 'distance walked on matched segments',
    COMMENT COLUMN segments 'street segments walked';

ALTER TABLE {db}.patrol_segment_visits
    COMMENT COLUMN visit_id 'session_id:k',
    COMMENT COLUMN session_id 'the patrol session',
    COMMENT COLUMN inspector_id 'inspector',
    COMMENT COLUMN level 'inspector level',
    COMMENT COLUMN department 'inspector department',
    COMMENT COLUMN segment_id 'street segment walked',
    COMMENT COLUMN street_id 'street of the segment',
    COMMENT COLUMN street_name 'street name',
    COMMENT COLUMN grid_code 'unit grid of the segment',
    COMMENT COLUMN started_at 'entered the segment (UTC)',
    COMMENT COLUMN ended_at 'left the segment (UTC)',
    COMMENT COLUMN metres 'distance walked on the segment',
    COMMENT COLUMN points 'pings on the segment';

ALTER TABLE {db}.street_segments
    COMMENT COLUMN segment_id 'street segment id of the street network file',
    COMMENT COLUMN street_id 'street the segment belongs to',
    COMMENT COLUMN street_name 'street name',
    COMMENT COLUMN length_m 'segment length in metres',
    COMMENT COLUMN revision 'load number: the highest revision loaded is in force';

ALTER TABLE {db}.patrol_level_rules
    COMMENT COLUMN level 'inspector level the rule is for',
    COMMENT COLUMN min_patrols 'patrols owed per period',
    COMMENT COLUMN per 'period: day or week',
    COMMENT COLUMN own_area '1: only patrols in the home area count',
    COMMENT COLUMN description 'the rule in words',
    COMMENT COLUMN revision 'the highest revision per level is in force';

ALTER TABLE {db}.inspector_areas
    COMMENT COLUMN inspector_id 'inspector',
    COMMENT COLUMN level 'inspector level',
    COMMENT COLUMN department 'inspector department',
    COMMENT COLUMN street_id 'home street, * for the whole district, empty for a home grid',
    COMMENT COLUMN grid_code 'home grid, empty for a home street',
    COMMENT COLUMN revision 'load number: the highest revision loaded is in force';

ALTER TABLE {db}.escalations
    COMMENT COLUMN escalation_id 'case_id:level',
    COMMENT COLUMN case_id 'the case',
    COMMENT COLUMN level 'remind 催办, supervise 督办, department_head, district_leader',
    COMMENT COLUMN department 'department the case is with',
    COMMENT COLUMN category_key 'category of the case',
    COMMENT COLUMN grid_code '15-digit unit grid code',
    COMMENT COLUMN street 'street code',
    COMMENT COLUMN dispatched_at 'when the case was dispatched (UTC)',
    COMMENT COLUMN deadline 'handling deadline (UTC)',
    COMMENT COLUMN escalated_at 'when the threshold was crossed (UTC)';

ALTER TABLE {db}.api_audit
    COMMENT COLUMN audit_id 'open311:<service_request_id> or desk:<key id>:<Idempotency-Key>',
    COMMENT COLUMN key_id 'the api key that wrote it',
    COMMENT COLUMN action 'what the api did (an Open311 request, a desk action)',
    COMMENT COLUMN topic 'Kafka topic the record was written to',
    COMMENT COLUMN record_key 'Kafka key of the record',
    COMMENT COLUMN case_id 'the case acted on, 0 for a new report',
    COMMENT COLUMN accepted_at 'when the api accepted the write (UTC)',
    COMMENT COLUMN media_urls 'media links sent with the request',
    COMMENT COLUMN record 'the JSON written to topic (never the request body)';

ALTER TABLE {db}.campaigns
    COMMENT COLUMN campaign_id 'campaign id of the campaign calendar',
    COMMENT COLUMN theme 'theme of the campaign (每月一主题)',
    COMMENT COLUMN name_zh 'name in Chinese',
    COMMENT COLUMN name_en 'name in English',
    COMMENT COLUMN categories 'categories covered, the calendar file list (for display)',
    COMMENT COLUMN streets 'streets covered, the calendar file list (for display)',
    COMMENT COLUMN areas 'areas covered, the calendar file list (for display)',
    COMMENT COLUMN whole_district '1 when the campaign covers the whole district',
    COMMENT COLUMN start_date 'first day, local, inclusive',
    COMMENT COLUMN end_date 'last day, local, inclusive',
    COMMENT COLUMN target_metric 'closure_rate, on_time_closure_rate or empty for no target',
    COMMENT COLUMN target_value 'the target, a percentage',
    COMMENT COLUMN revision 'load number: the highest revision per campaign is in force';

ALTER TABLE {db}.campaign_scope
    COMMENT COLUMN campaign_id 'the campaign',
    COMMENT COLUMN category_key 'a category covered, empty on a grid row',
    COMMENT COLUMN grid_code 'a unit grid covered, empty on a category row',
    COMMENT COLUMN revision 'load number: the highest revision is in force';

ALTER TABLE {db}.schema_migrations
    COMMENT COLUMN version 'migration number (sinks/migrations/NNNN_name.sql)',
    COMMENT COLUMN name 'migration file name',
    COMMENT COLUMN checksum 'SHA-256 of the migration template',
    COMMENT COLUMN applied_at 'when it was applied (UTC)';
