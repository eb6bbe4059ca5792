-- version counts updates of a user, so that an update made from a stale
-- read (an admin PATCH, a password hash upgraded at login) is refused
-- instead of overwriting a newer one.
ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_tenant_id ON users (tenant_id);
