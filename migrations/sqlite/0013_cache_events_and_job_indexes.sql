-- The cache announcements become per statement, and the job's next batch gets partial indexes,
-- on PostgreSQL only: SQLite nodes read `cache_events` rows, and SQLite's plan for the next batch
-- was already a short index range (the extra indexes only cost it upkeep).

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
