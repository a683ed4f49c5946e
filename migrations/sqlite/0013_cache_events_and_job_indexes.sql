-- The cache announcements become per statement on PostgreSQL only; SQLite nodes read
-- `cache_events` rows, unchanged.


-- The job's next batch (the members not yet contained / notified, in id order) read from an
-- index of exactly those rows: it stays a short index range however far the job has gone.
CREATE INDEX incident_members_to_contain ON incident_members (cohort_id, user_id)
    WHERE contained_at IS NULL;
CREATE INDEX incident_members_to_notify ON incident_members (cohort_id, user_id)
    WHERE notified_at IS NULL;

-- The incident notices carry their cohort, so the incident page counts them by state from an
-- index instead of joining every member to the outbox.
ALTER TABLE outbox ADD COLUMN cohort_id BIGINT;
CREATE INDEX outbox_cohort_idx ON outbox (cohort_id, status) WHERE cohort_id IS NOT NULL;

-- The worker's claim takes the oldest queued rows: an index of exactly those, in id order, so a
-- backlog of 100 000 notices is not read whole for each batch of 200.
CREATE INDEX outbox_queued_idx ON outbox (id) WHERE status = 'queued';

-- The earliest containment time of a cohort's members: the incident page reads the completed
-- resets from the passwords set since then (an index range) instead of from every member.
ALTER TABLE incident_cohorts ADD COLUMN first_contained_at BIGINT;
