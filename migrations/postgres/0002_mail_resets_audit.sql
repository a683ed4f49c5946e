-- Instance settings as key/value text (product name, support e-mail, ...).
CREATE TABLE settings (
    key        TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Admin-edited e-mail templates; a kind without a row uses the default shipped in the binary.
CREATE TABLE email_templates (
    kind       TEXT   PRIMARY KEY,
    subject    TEXT   NOT NULL,
    html       TEXT   NOT NULL,
    text       TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT
);

-- The durable outbox: a mail is a row committed with the action that caused it, rendered at
-- that moment. Workers claim rows with a lease (lease_owner/lease_until), so two workers or two
-- nodes never send the same row, on both backends, without SKIP LOCKED.
CREATE TABLE outbox (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT    NOT NULL,
    to_address      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    html            TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_error      TEXT,
    sent_at         BIGINT
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);

-- Forgot-password links: only the SHA-256 of the token is stored.
CREATE TABLE password_resets (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash     TEXT    NOT NULL CONSTRAINT password_resets_token_key UNIQUE,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT,
    invalidated_at BIGINT,
    ip             TEXT
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id, created_at);

-- The audit trail: append-only, each entry chained to the previous one by SHA-256.
CREATE TABLE audit_log (
    seq            BIGINT  PRIMARY KEY,
    at             BIGINT  NOT NULL,
    actor_kind     TEXT    NOT NULL,
    actor_user_id  BIGINT,
    actor_label    TEXT,
    action         TEXT    NOT NULL,
    target_user_id BIGINT,
    ip             TEXT,
    user_agent     TEXT,
    reason         TEXT,
    details        TEXT    NOT NULL,
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL
);
CREATE INDEX audit_log_target_idx ON audit_log (target_user_id, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);

-- The head of the chain: updating it first serialises appenders on both backends.
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT   NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
