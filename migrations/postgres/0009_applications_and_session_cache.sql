-- Applications behind a reverse proxy that ask Keywarden whether a request may pass
-- (forward-auth). A request for a host no enabled application matches is refused.
-- `host` is exact (`app.example.com`) or a wildcard of one or more labels (`*.example.com`).
-- `allowed_roles` is a comma-separated list of roles ("admin,member").
CREATE TABLE applications (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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

-- What every node's in-memory session cache must forget, announced by the database itself in
-- the transaction that made the change (so the command line and every code path are covered):
-- NOTIFY keywarden_cache with 's:<id hash>' (a session ended or its data changed),
-- 'u:<id>' (a user changed or was deleted) or 'a:' (the applications changed). PostgreSQL
-- delivers notifications at commit, in commit order. The table exists on both backends (SQLite
-- nodes read it instead); here it stays empty.
CREATE TABLE cache_events (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT   NOT NULL,
    key  TEXT   NOT NULL,
    at   BIGINT NOT NULL
);

CREATE FUNCTION keywarden_cache_session() RETURNS trigger AS $$
BEGIN
    IF NEW.ended_at IS NULL
       OR (OLD.ended_at IS NULL AND NEW.end_reason IS DISTINCT FROM 'instance_sign_out') THEN
        PERFORM pg_notify('keywarden_cache', 's:' || NEW.id_hash);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER cache_session_changed AFTER UPDATE OF ended_at, data ON sessions
FOR EACH ROW EXECUTE FUNCTION keywarden_cache_session();

CREATE FUNCTION keywarden_cache_user() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('keywarden_cache', 'u:' || OLD.id);
    ELSE
        PERFORM pg_notify('keywarden_cache', 'u:' || NEW.id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER cache_user_changed AFTER UPDATE OR DELETE ON users
FOR EACH ROW EXECUTE FUNCTION keywarden_cache_user();

CREATE FUNCTION keywarden_cache_applications() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('keywarden_cache', 'a:');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER cache_applications_changed AFTER INSERT OR DELETE OR UPDATE OF name, host, allowed_roles, enabled
ON applications FOR EACH STATEMENT EXECUTE FUNCTION keywarden_cache_applications();
