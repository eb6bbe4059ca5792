-- feed_key holds the key under which the change channel conceals session,
-- user and tenant ids (sessiond.ConcealChange): any role that can connect
-- may LISTEN on any channel, and PostgreSQL offers no way to prevent it,
-- so the payloads carry keyed hashes that only readers of this table can
-- match. One row, drawn here from pg_strong_random (two UUIDs v4, 244
-- random bits), under the migration lock: every node reads the same key.
CREATE TABLE feed_key (
    id int PRIMARY KEY CHECK (id = 1),
    key bytea NOT NULL
);
INSERT INTO feed_key (id, key)
    VALUES (1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
