-- Temporary tightening while an incident is not closed: each open incident may shorten the
-- session idle timeout and lifetime, force new-device alerts on, pause self-service sign-up and
-- throttle forgot-password harder. Nodes apply the strictest over every incident not closed, so
-- closing one reverts its switches; the columns stay as the record of what it applied.
ALTER TABLE incidents ADD COLUMN tight_idle_secs BIGINT;
ALTER TABLE incidents ADD COLUMN tight_lifetime_secs BIGINT;
ALTER TABLE incidents ADD COLUMN tight_alerts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN tight_sign_up_paused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN tight_forgot BIGINT NOT NULL DEFAULT 0;
