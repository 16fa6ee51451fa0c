-- Hotline request updates (hotline.updates): a request the 12345 platform published again
-- with a new status or notes (streams/contracts/requests.py). Placeholders: {db}, {tz}.
-- One row per update_id = "{request_id}@{updated_at ms}": the same re-publication sent
-- twice is stored once.
CREATE TABLE IF NOT EXISTS {db}.request_updates (
    update_id String,
    event_id UInt64,
    request_id String,
    status String,
    status_notes String,
    description String,
    updated_at DateTime,
    received_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(updated_at)
ORDER BY update_id;

-- The latest word of the platform on each request, beside the case its report is linked to
-- (links): a case merging several calls has a row per request. The centre's own status of
-- the case stays in `cases`.
CREATE VIEW IF NOT EXISTS {db}.case_request_updates AS
SELECT
    l.case_id AS case_id,
    u.request_id AS request_id,
    u.updates AS updates,
    u.status AS status,
    u.status_notes AS status_notes,
    u.description AS description,
    u.last_update AS updated_at
FROM (
    SELECT
        event_id,
        request_id,
        count() AS updates,
        argMax(status, updated_at) AS status,
        argMax(status_notes, updated_at) AS status_notes,
        argMax(description, updated_at) AS description,
        max(updated_at) AS last_update
    FROM {db}.request_updates FINAL
    GROUP BY event_id, request_id
) AS u
ANY INNER JOIN (
    SELECT event_id, case_id FROM {db}.links FINAL
) AS l USING event_id;
