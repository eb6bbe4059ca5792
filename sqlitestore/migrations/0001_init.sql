-- Times are Unix microseconds, UTC. Token hashes are raw SHA-256 bytes; the
-- token itself is never stored.
CREATE TABLE sessions (
	id               TEXT    PRIMARY KEY,
	token_hash       BLOB    NOT NULL UNIQUE,
	user_id          TEXT    NOT NULL,
	tenant_id        TEXT    NOT NULL DEFAULT '',
	ip_address       TEXT    NOT NULL DEFAULT '',
	user_agent       TEXT    NOT NULL DEFAULT '',
	created_at       INTEGER NOT NULL,
	last_activity    INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	authenticated_at INTEGER NOT NULL,
	data             BLOB,
	version          INTEGER NOT NULL DEFAULT 0,
	flags            TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_last_activity ON sessions (last_activity);

CREATE TABLE users (
	id               TEXT    PRIMARY KEY,
	email            TEXT    NOT NULL,
	email_key        TEXT    NOT NULL UNIQUE,
	password_hash    TEXT    NOT NULL,
	tenant_id        TEXT    NOT NULL DEFAULT '',
	needs_onboarding INTEGER NOT NULL DEFAULT 0,
	onboarding_step  TEXT    NOT NULL DEFAULT '',
	disabled         INTEGER NOT NULL DEFAULT 0,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
);

-- changes is the feed other processes on the same file (the CLI, a second
-- server) read to drop what they cache: every revocation and update of a
-- session or user appends a row in the same transaction.
CREATE TABLE changes (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	session_id TEXT    NOT NULL DEFAULT '',
	user_id    TEXT    NOT NULL DEFAULT '',
	at         INTEGER NOT NULL
);
CREATE INDEX changes_at ON changes (at);
