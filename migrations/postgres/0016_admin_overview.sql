-- The admin overview reads every figure from an index or a small table, at any number of users.

-- Users, counted as they are added and removed (COUNT(*) over a million rows is tens of
-- milliseconds; this is one row). Per statement: a bulk insert updates the row once.
CREATE TABLE user_count (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO user_count (id, n) SELECT 1, COUNT(*) FROM users;

CREATE FUNCTION keywarden_user_count_added() RETURNS trigger AS $$
BEGIN
    UPDATE user_count SET n = n + (SELECT COUNT(*) FROM added) WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION keywarden_user_count_removed() RETURNS trigger AS $$
BEGIN
    UPDATE user_count SET n = n - (SELECT COUNT(*) FROM removed) WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER user_count_insert AFTER INSERT ON users
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION keywarden_user_count_added();
CREATE TRIGGER user_count_delete AFTER DELETE ON users
REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION keywarden_user_count_removed();

-- Sign-in outcomes per hour (UTC), counted as their audit entries are written (the entries are
-- append-only, so the counts never go down): the overview's 24-hour chart reads 96 rows at most
-- instead of every sign-in entry of the day. The audit head already serialises appenders, so
-- the counter rows add no new wait.
CREATE TABLE sign_in_hours (
    hour   BIGINT NOT NULL,
    action TEXT   NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (hour, action)
);
INSERT INTO sign_in_hours (hour, action, n)
SELECT at - at % 3600000, action, COUNT(*) FROM audit_log
WHERE action IN ('auth.sign_in', 'auth.sign_in_failed', 'auth.sign_in_blocked', 'reset_task.started')
GROUP BY at - at % 3600000, action;

CREATE FUNCTION keywarden_sign_in_hours() RETURNS trigger AS $$
BEGIN
    INSERT INTO sign_in_hours (hour, action, n)
    SELECT at - at % 3600000, action, COUNT(*) FROM appended
    WHERE action IN ('auth.sign_in', 'auth.sign_in_failed', 'auth.sign_in_blocked', 'reset_task.started')
    GROUP BY at - at % 3600000, action
    ON CONFLICT (hour, action) DO UPDATE SET n = sign_in_hours.n + EXCLUDED.n;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER sign_in_hours_count AFTER INSERT ON audit_log
REFERENCING NEW TABLE AS appended
FOR EACH STATEMENT EXECUTE FUNCTION keywarden_sign_in_hours();

-- Entries of one kind in a time window (alerts, reports, resets in the last 7 days).
CREATE INDEX audit_log_action_at_idx ON audit_log (action, at);
-- Live sessions, counted from the index alone.
CREATE INDEX sessions_live_idx ON sessions (last_seen_at, created_at, expires_at, issued_at, user_id)
    WHERE ended_at IS NULL;
-- Users whose own session watermark may still end a live session.
CREATE INDEX users_sessions_revoked_idx ON users (sessions_revoked_before)
    WHERE sessions_revoked_before IS NOT NULL;
