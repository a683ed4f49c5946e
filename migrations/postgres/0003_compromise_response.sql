-- Watermarks make containment O(1): a password set at or before a password watermark is
-- compromised; a session issued at or before a session watermark is signed out.

-- Instance level: one row.
CREATE TABLE security_state (
    id                          BIGINT PRIMARY KEY CHECK (id = 1),
    passwords_compromised_before BIGINT NOT NULL DEFAULT 0,
    passwords_compromised_by    TEXT,
    passwords_compromised_reason TEXT,
    sessions_revoked_before     BIGINT NOT NULL DEFAULT 0,
    sessions_revoked_by         TEXT,
    sessions_revoked_reason     TEXT,
    reset_task_enabled          BIGINT NOT NULL DEFAULT 1,
    password_min_length         BIGINT,
    session_idle_timeout_secs   BIGINT,
    session_absolute_lifetime_secs BIGINT,
    version                     BIGINT NOT NULL DEFAULT 0
);
INSERT INTO security_state (id) VALUES (1);

-- User level: the same two watermarks, with who set them and why.
ALTER TABLE users ADD COLUMN password_compromised_at BIGINT;
ALTER TABLE users ADD COLUMN password_compromised_by TEXT;
ALTER TABLE users ADD COLUMN password_compromised_reason TEXT;
ALTER TABLE users ADD COLUMN sessions_revoked_before BIGINT;
ALTER TABLE users ADD COLUMN sessions_revoked_reason TEXT;
ALTER TABLE users ADD COLUMN name_normalized TEXT;
CREATE INDEX users_password_set_idx ON users (password_set_at, id);
CREATE INDEX users_name_idx ON users (name_normalized, id);

-- The e-mail code of the reset-password task: one live code per user, hash only.
CREATE TABLE reset_codes (
    user_id    BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0
);
