-- Signed audit checkpoints: the head of the chain (seq, hash) at a time, signed with a key kept
-- outside the database. The copies that matter live elsewhere (mail, files, operators); this
-- table lets the admin page show and offer the last one. `daily_on` (UTC date) is set only for
-- the daily checkpoint: its uniqueness elects one node per day.
CREATE TABLE audit_checkpoints (
    id       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq      BIGINT  NOT NULL,
    hash     TEXT    NOT NULL,
    at       BIGINT  NOT NULL,
    cause    TEXT    NOT NULL,
    daily_on TEXT    UNIQUE,
    text     TEXT    NOT NULL
);
