-- Figures too costly to count on every view of the admin overview (live sessions: an exact count
-- reads one index entry per live session, over 100 ms at a million on PostgreSQL). The overview
-- shows the stored count with its time and, when it is older than a minute, one node claims the
-- recount and runs it off the request path.
CREATE TABLE overview_counts (
    name               TEXT   PRIMARY KEY,
    n                  BIGINT NOT NULL,
    counted_at         BIGINT NOT NULL,
    refresh_claimed_at BIGINT
);

-- The live-session index leads with `ended_at`, so SQLite prefers it (equality, then the range on
-- `last_seen_at`, covering) over `sessions_ended_idx` and its table lookups.
DROP INDEX sessions_live_idx;
CREATE INDEX sessions_live_idx ON sessions (ended_at, last_seen_at, created_at, expires_at, issued_at, user_id)
    WHERE ended_at IS NULL;
