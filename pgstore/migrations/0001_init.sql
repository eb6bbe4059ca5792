-- Every table lives in the schema of the connection's search_path. Tables
-- are logged (never UNLOGGED): a revocation must survive a crash.
CREATE TABLE sessions (
	id               text        PRIMARY KEY,
	token_hash       bytea       NOT NULL UNIQUE,
	user_id          text        NOT NULL,
	tenant_id        text        NOT NULL DEFAULT '',
	ip_address       text        NOT NULL DEFAULT '',
	user_agent       text        NOT NULL DEFAULT '',
	created_at       timestamptz NOT NULL,
	last_activity    timestamptz NOT NULL,
	expires_at       timestamptz NOT NULL,
	authenticated_at timestamptz NOT NULL,
	data             bytea,
	version          bigint      NOT NULL DEFAULT 0,
	flags            text[]      NOT NULL DEFAULT '{}'
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_tenant_id ON sessions (tenant_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_last_activity ON sessions (last_activity);

CREATE TABLE users (
	id               text        PRIMARY KEY,
	email            text        NOT NULL,
	email_key        text        NOT NULL UNIQUE,
	password_hash    text        NOT NULL,
	tenant_id        text        NOT NULL DEFAULT '',
	needs_onboarding boolean     NOT NULL DEFAULT false,
	onboarding_step  text        NOT NULL DEFAULT '',
	disabled         boolean     NOT NULL DEFAULT false,
	created_at       timestamptz NOT NULL,
	updated_at       timestamptz NOT NULL
);

CREATE TABLE counters (
	key        text        PRIMARY KEY,
	count      bigint      NOT NULL,
	last_at    timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX counters_expires_at ON counters (expires_at);

CREATE TABLE events (
	id         text        PRIMARY KEY,
	type       text        NOT NULL,
	user_id    text        NOT NULL,
	session_id text        NOT NULL DEFAULT '',
	ip_address text        NOT NULL DEFAULT '',
	user_agent text        NOT NULL DEFAULT '',
	at         timestamptz NOT NULL,
	detail     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX events_user_at ON events (user_id, at);
CREATE INDEX events_at ON events (at);

CREATE TABLE devices (
	user_id     text        NOT NULL,
	fingerprint text        NOT NULL,
	first_seen  timestamptz NOT NULL,
	last_seen   timestamptz NOT NULL,
	PRIMARY KEY (user_id, fingerprint)
);

CREATE TABLE legacy_migrations (
	key         bytea       PRIMARY KEY,
	state       text        NOT NULL,
	sealed      bytea,
	created_at  timestamptz NOT NULL,
	share_until timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL
);
CREATE INDEX legacy_migrations_expires_at ON legacy_migrations (expires_at);
