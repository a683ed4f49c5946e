-- Times are Unix milliseconds (UTC) in BIGINT columns so that one query text works on SQLite and
-- PostgreSQL through sqlx::Any.
CREATE TABLE users (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email            TEXT    NOT NULL,
    email_normalized TEXT    NOT NULL CONSTRAINT users_email_key UNIQUE,
    name             TEXT,
    role             TEXT    NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash    TEXT    NOT NULL,
    password_set_at  BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    disabled_at      BIGINT
);
CREATE INDEX users_role_idx ON users (role, id);

-- The one source of truth for sessions: written by the tower-sessions store, queryable by user.
-- The session id itself is never stored, only its SHA-256.
CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,
    user_id      BIGINT  REFERENCES users (id) ON DELETE CASCADE,
    data         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    ended_at     BIGINT,
    end_reason   TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);
CREATE INDEX sessions_ended_idx ON sessions (ended_at);
