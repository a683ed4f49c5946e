-- Applications behind a reverse proxy that ask Keywarden whether a request may pass
-- (forward-auth). A request for a host no enabled application matches is refused.
-- `host` is exact (`app.example.com`) or a wildcard of one or more labels (`*.example.com`).
-- `allowed_roles` is a comma-separated list of roles ("admin,member").
CREATE TABLE applications (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL,
    host           TEXT    NOT NULL CONSTRAINT applications_host_key UNIQUE,
    allowed_roles  TEXT    NOT NULL,
    enabled        INTEGER NOT NULL DEFAULT 1,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    last_access_at BIGINT
);

-- Which sessions reached which application, and when last (written behind in batches; the
-- Applications page counts the last 24 hours).
CREATE TABLE application_sessions (
    application_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    session_key    TEXT   NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    PRIMARY KEY (application_id, session_key)
);
CREATE INDEX application_sessions_seen ON application_sessions (application_id, last_seen_at);

-- What every node's in-memory session cache must forget, written by the database itself in the
-- transaction that made the change (so the command line and every code path are covered):
-- 's' a session ended or its data changed (key: the id hash), 'u' a user changed or was deleted
-- (key: the id), 'a' the applications changed. Nodes read it by id (SQLite writes one
-- transaction at a time, so ids follow commit order); rows older than an hour are pruned.
-- Sessions ended by the instance-wide sign-out are not listed: the instance watermark, held in
-- every node's memory, already refuses them.
CREATE TABLE cache_events (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT    NOT NULL,
    key  TEXT    NOT NULL,
    at   BIGINT  NOT NULL
);

CREATE TRIGGER cache_session_changed AFTER UPDATE OF ended_at, data ON sessions
WHEN NEW.ended_at IS NULL
  OR (OLD.ended_at IS NULL AND NEW.end_reason IS NOT 'instance_sign_out')
BEGIN
    INSERT INTO cache_events (kind, key, at)
    VALUES ('s', NEW.id_hash, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER cache_user_changed AFTER UPDATE ON users
BEGIN
    INSERT INTO cache_events (kind, key, at)
    VALUES ('u', CAST(NEW.id AS TEXT), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER cache_user_deleted AFTER DELETE ON users
BEGIN
    INSERT INTO cache_events (kind, key, at)
    VALUES ('u', CAST(OLD.id AS TEXT), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER cache_application_inserted AFTER INSERT ON applications
BEGIN
    INSERT INTO cache_events (kind, key, at)
    VALUES ('a', '', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER cache_application_updated AFTER UPDATE OF name, host, allowed_roles, enabled ON applications
BEGIN
    INSERT INTO cache_events (kind, key, at)
    VALUES ('a', '', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER cache_application_deleted AFTER DELETE ON applications
BEGIN
    INSERT INTO cache_events (kind, key, at)
    VALUES ('a', '', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
