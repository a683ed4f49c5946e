-- The cache announcements become per statement on PostgreSQL only; SQLite nodes read
-- `cache_events` rows, unchanged.


-- The job's next batch (the members not yet contained / notified, in id order) read from an
-- index of exactly those rows: it stays a short index range however far the job has gone.
CREATE INDEX incident_members_to_contain ON incident_members (cohort_id, user_id)
    WHERE contained_at IS NULL;
CREATE INDEX incident_members_to_notify ON incident_members (cohort_id, user_id)
    WHERE notified_at IS NULL;
