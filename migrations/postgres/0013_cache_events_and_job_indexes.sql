-- The session-cache announcements (migration 0009) per statement instead of per row: a cohort
-- batch that ends 5 000 sessions and changes 5 000 users sent 10 000 notifications, each handled
-- by every node. Now each statement sends one per 100 sessions (`s:<hash>,<hash>,…`) or 300
-- users (`u:<id>,<id>,…`), well under the 8 000-byte payload limit. The rules are the same: a
-- session is announced when its data changed while live, or when it ended other than by the
-- instance-wide sign-out (which the in-memory watermark covers); a user on any change or delete.
DROP TRIGGER cache_session_changed ON sessions;
DROP TRIGGER cache_user_changed ON users;
DROP FUNCTION keywarden_cache_session();
DROP FUNCTION keywarden_cache_user();

CREATE FUNCTION keywarden_cache_sessions() RETURNS trigger AS $$
DECLARE
    keys TEXT;
BEGIN
    FOR keys IN
        SELECT string_agg(id_hash, ',')
        FROM (
            SELECT n.id_hash, (row_number() OVER () - 1) / 100 AS chunk
            FROM changed_new n JOIN changed_old o ON o.id_hash = n.id_hash
            WHERE (n.data IS DISTINCT FROM o.data OR n.ended_at IS DISTINCT FROM o.ended_at)
              AND (n.ended_at IS NULL
                   OR (o.ended_at IS NULL AND n.end_reason IS DISTINCT FROM 'instance_sign_out'))
        ) announced
        GROUP BY chunk
    LOOP
        PERFORM pg_notify('keywarden_cache', 's:' || keys);
    END LOOP;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER cache_sessions_changed AFTER UPDATE ON sessions
REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
FOR EACH STATEMENT EXECUTE FUNCTION keywarden_cache_sessions();

-- One function for both user triggers: each names its transition table `changed` (the new rows
-- of an update, the old rows of a delete).
CREATE FUNCTION keywarden_cache_users() RETURNS trigger AS $$
DECLARE
    keys TEXT;
BEGIN
    FOR keys IN
        SELECT string_agg(id::TEXT, ',')
        FROM (SELECT id, (row_number() OVER () - 1) / 300 AS chunk FROM changed) announced
        GROUP BY chunk
    LOOP
        PERFORM pg_notify('keywarden_cache', 'u:' || keys);
    END LOOP;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER cache_users_updated AFTER UPDATE ON users
REFERENCING NEW TABLE AS changed
FOR EACH STATEMENT EXECUTE FUNCTION keywarden_cache_users();

CREATE TRIGGER cache_users_deleted AFTER DELETE ON users
REFERENCING OLD TABLE AS changed
FOR EACH STATEMENT EXECUTE FUNCTION keywarden_cache_users();

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
