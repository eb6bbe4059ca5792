-- Legacy-cookie migrations, keyed by a hash of the legacy credential. A
-- record is first "pending" (one process is asking the old backend), then
-- "done" (sealed holds the new token, encrypted under a key derived from the
-- legacy credential, shared with parallel requests until share_until) or
-- "invalid". It is kept until expires_at so that a replay mints nothing.
CREATE TABLE legacy_migrations (
	key         BLOB    PRIMARY KEY,
	state       TEXT    NOT NULL,
	sealed      BLOB,
	created_at  INTEGER NOT NULL,
	share_until INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
);
CREATE INDEX legacy_migrations_expires_at ON legacy_migrations (expires_at);
