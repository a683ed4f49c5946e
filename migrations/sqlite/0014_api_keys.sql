-- API keys for the management API (/api/v1). The key itself is shown once; only its SHA-256 is
-- kept (256 random bits: a hash cannot be reversed by guessing). A revoked key keeps its row so
-- the audit trail's actor name stays explained; a name is unique among the keys not revoked.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    -- The first characters of the key after its prefix, to recognise it in lists.
    hint         TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL CONSTRAINT api_keys_hash_key UNIQUE,
    -- Comma-separated scopes (users:read, users:write, ...).
    scopes       TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT,
    revoked_by   TEXT,
    last_used_at BIGINT,
    last_used_ip TEXT
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;

-- The first answer to each POST sent with an Idempotency-Key, per API key, kept 24 hours: a
-- retry with the same key gets it again instead of acting twice. status 0 marks a call still
-- running (a concurrent retry is told to wait).
CREATE TABLE api_idempotency (
    api_key_id   BIGINT  NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    idem_key     TEXT    NOT NULL,
    -- SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint  TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
);
CREATE INDEX api_idempotency_created ON api_idempotency (created_at);
