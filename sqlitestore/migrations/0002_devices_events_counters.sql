CREATE INDEX sessions_tenant_id ON sessions (tenant_id);

-- Expiring counters shared by every process (login throttling).
CREATE TABLE counters (
	key        TEXT    PRIMARY KEY,
	count      INTEGER NOT NULL,
	last_at    INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX counters_expires_at ON counters (expires_at);

-- Audit events, per user, newest first.
CREATE TABLE events (
	id         TEXT    PRIMARY KEY,
	type       TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	session_id TEXT    NOT NULL DEFAULT '',
	ip_address TEXT    NOT NULL DEFAULT '',
	user_agent TEXT    NOT NULL DEFAULT '',
	at         INTEGER NOT NULL,
	detail     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX events_user_at ON events (user_id, at);
CREATE INDEX events_at ON events (at);

-- Devices each user has signed in from (browser family and OS).
CREATE TABLE devices (
	user_id     TEXT    NOT NULL,
	fingerprint TEXT    NOT NULL,
	first_seen  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL,
	PRIMARY KEY (user_id, fingerprint)
);

ALTER TABLE changes ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
