-- Progressive sign-in delays, held in the database so they apply on every node and survive a
-- restart. One row per throttle key: the SHA-256 of the e-mail as typed (normalised), or of the
-- e-mail and a device the account already knows (that device has its own counter, so an attacker
-- cannot lock the owner out). Unknown e-mails get rows like known ones.
CREATE TABLE sign_in_throttle (
    throttle_key TEXT PRIMARY KEY,
    -- The account, when the e-mail belongs to one; the e-mail as typed otherwise (for the audit).
    user_id BIGINT,
    email TEXT NOT NULL,
    -- Attempts since the last success (counted when an attempt starts, so concurrent guesses
    -- cannot slip past the threshold together).
    failures BIGINT NOT NULL DEFAULT 0,
    last_failure_at BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    -- Attempts refused while throttled, not yet written to the audit trail (one aggregated entry
    -- per key and window).
    refused BIGINT NOT NULL DEFAULT 0,
    refused_since BIGINT,
    -- Compare-and-swap guard for the claim of an attempt.
    version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sign_in_throttle_last_failure ON sign_in_throttle (last_failure_at);
CREATE INDEX sign_in_throttle_refused_since ON sign_in_throttle (refused_since);
