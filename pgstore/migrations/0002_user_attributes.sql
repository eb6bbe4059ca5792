-- attributes holds what the server vouches for about a user beyond the
-- fixed fields (roles, plan): a JSON object written only by the operator,
-- the admin API or a trusted backend, never by a browser.
ALTER TABLE users ADD COLUMN attributes text NOT NULL DEFAULT '{}';
