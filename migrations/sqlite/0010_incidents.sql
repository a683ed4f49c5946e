-- Incidents: a record of one response (title, severity, the reference users are told, the
-- detection time MTTR counts from), the audit entries attached to it, and the cohorts it acted on.
CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    reference    TEXT    NOT NULL CONSTRAINT incidents_reference_key UNIQUE,
    title        TEXT    NOT NULL,
    severity     TEXT    NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    description  TEXT    NOT NULL DEFAULT '',
    -- What happened and what to do, in words for the affected users (the notice and the banner).
    notice       TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL CHECK (state IN ('open', 'contained', 'closed')),
    opened_by    TEXT    NOT NULL,
    opened_at    BIGINT  NOT NULL,
    detected_at  BIGINT  NOT NULL,
    contained_at BIGINT,
    closed_at    BIGINT
);

-- Audit entries taken for an incident (their details also name it, under the chain's hash).
CREATE TABLE incident_audit (
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    seq         BIGINT NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

-- A cohort frozen at apply time, and the durable job that acts on it: containment first
-- (compromise and/or sign out, in batches), then the notices. `lease_*` lets one node at a time
-- run it; a node that dies leaves the lease to expire and another (or the restarted one) resumes.
CREATE TABLE incident_cohorts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  BIGINT  NOT NULL REFERENCES incidents (id),
    criteria     TEXT    NOT NULL,
    compromise   INTEGER NOT NULL,
    sign_out     INTEGER NOT NULL,
    notify       INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    ids_sha256   TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('running', 'done', 'cancelled')),
    contained    BIGINT  NOT NULL DEFAULT 0,
    notified     BIGINT  NOT NULL DEFAULT 0,
    contained_at BIGINT,
    finished_at  BIGINT,
    lease_owner  TEXT,
    lease_until  BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX incident_cohorts_state_idx ON incident_cohorts (state, id);
CREATE INDEX incident_cohorts_incident_idx ON incident_cohorts (incident_id, id);

-- The members of a cohort. No foreign key to users: the list is evidence and outlives an account.
CREATE TABLE incident_members (
    cohort_id    BIGINT NOT NULL REFERENCES incident_cohorts (id),
    user_id      BIGINT NOT NULL,
    contained_at BIGINT,
    notified_at  BIGINT,
    outbox_id    BIGINT,
    PRIMARY KEY (cohort_id, user_id)
);
CREATE INDEX incident_members_user_idx ON incident_members (user_id);

-- Cohort criteria over time windows.
CREATE INDEX sessions_created_idx ON sessions (created_at);
CREATE INDEX known_devices_first_seen_idx ON known_devices (first_seen_at);
CREATE INDEX users_created_idx ON users (created_at, id);
