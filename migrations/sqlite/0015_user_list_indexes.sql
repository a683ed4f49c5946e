-- The user list (console and management API) pages in id order. Under a sparse filter, these
-- partial indexes hold only the matching rows in id order, so a page reads what it shows instead
-- of walking the whole table (disabled accounts; passwords set compromised one by one).
CREATE INDEX users_disabled_id ON users (id) WHERE disabled_at IS NOT NULL;
CREATE INDEX users_compromised_id ON users (id) WHERE password_compromised_at IS NOT NULL;
