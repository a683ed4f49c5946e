-- Devices: each browser carries a random device cookie; sessions record it (hashed), a public id
-- the pages and alert links refer to, and an approximate location.
ALTER TABLE sessions ADD COLUMN public_id TEXT;
ALTER TABLE sessions ADD COLUMN device_hash TEXT;
ALTER TABLE sessions ADD COLUMN location TEXT;
CREATE UNIQUE INDEX sessions_public_id_idx ON sessions (public_id);

-- Devices (and countries) a user has signed in from: a sign-in from anything else is "new".
CREATE TABLE known_devices (
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_hash   TEXT   NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_hash)
);
CREATE TABLE known_countries (
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    country       TEXT   NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, country)
);

-- "This wasn't me" links of new-device alerts: hash only, single use, bound to one session.
CREATE TABLE device_alerts (
    token_hash        TEXT   PRIMARY KEY,
    user_id           BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_public_id TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    used_at           BIGINT
);
CREATE INDEX device_alerts_expiry_idx ON device_alerts (expires_at);

-- Runtime settings of the alert.
ALTER TABLE security_state ADD COLUMN new_device_alerts_enabled BIGINT NOT NULL DEFAULT 1;
ALTER TABLE security_state ADD COLUMN alert_on_new_country BIGINT NOT NULL DEFAULT 0;
ALTER TABLE security_state ADD COLUMN device_alert_path TEXT;
