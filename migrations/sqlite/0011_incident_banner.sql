-- When a cohort member dismissed the incident's in-app banner (it also ends at the reset).
ALTER TABLE incident_members ADD COLUMN dismissed_at BIGINT;
