-- The time a session counts from, for the session watermarks: taken from the database clock (the
-- one clock every node and the CLI share), apart from `created_at`, which starts its lifetime on
-- the clock of the node that issued it.
ALTER TABLE sessions ADD COLUMN issued_at BIGINT;
UPDATE sessions SET issued_at = created_at;
