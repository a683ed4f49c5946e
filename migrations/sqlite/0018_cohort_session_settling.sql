-- A cohort's containment writes its members' user rows only: the raised session watermark is what
-- makes every session of theirs invalid (the validity rule reads it on every request). The session
-- rows are then stamped as ended in a later phase of the job, in member-id order.
-- How far each phase has gone, as the last member id it finished: the next batch starts after it
-- (an index range from there, not a walk over the entries of the members already done).
ALTER TABLE incident_cohorts ADD COLUMN contained_through BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incident_cohorts ADD COLUMN sessions_settled_through BIGINT NOT NULL DEFAULT 0;
