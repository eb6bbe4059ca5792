// Package pgstore is sessiond's PostgreSQL store, for several stateless
// sessiond nodes on one database (pgx connection pool). Every update is
// conditional (no upsert can bring a revoked session back), each statement
// has a timeout, expired rows are purged in batches by one node at a time
// (an advisory lock), and every revocation is announced with NOTIFY in its
// own transaction, so that each node's cache hears of it on commit.
package pgstore

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure a Store. Zero fields take their defaults.
type Options struct {
	// Schema holds sessiond's tables; it is created if missing. Default:
	// the search_path parameter of the URL, or "sessiond".
	Schema string
	// StatementTimeout bounds every statement on the server. Default 5s.
	StatementTimeout time.Duration
	// MaxConns bounds the pool. Default pgxpool's (max(4, CPUs)).
	MaxConns int32
	// ConnectTimeout bounds each connection attempt, so that a server
	// that accepts connections and never answers is an error, not a hang.
	// Default 5s; the URL's connect_timeout wins.
	ConnectTimeout time.Duration
}

// Store is a sessiond.Store on PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	schema  string
	channel string
	feedKey []byte // conceals the ids on the channel (feed_key)
}

// Open connects to the database at url (postgres://…), creates the schema
// if needed and applies the embedded migrations.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = 5 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if opts.Schema == "" {
		opts.Schema = cfg.ConnConfig.RuntimeParams["search_path"]
	}
	if opts.Schema == "" {
		opts.Schema = "sessiond"
	}
	if !validSchema(opts.Schema) {
		// PostgreSQL folds unquoted names to lower case, and a list such
		// as "a,public" would put the tables in public: a schema name
		// that is not plain would mean tables in one place and the change
		// channel (whose name is at most 63 bytes) in another (#16.6).
		return nil, fmt.Errorf("pgstore: schema %q (search_path): want 1 to 54 lower-case letters, digits or '_', starting with a letter or '_'", opts.Schema)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = cmp.Or(opts.ConnectTimeout, 5*time.Second)
	}
	rp := cfg.ConnConfig.RuntimeParams
	rp["search_path"] = opts.Schema
	rp["statement_timeout"] = fmt.Sprint(opts.StatementTimeout.Milliseconds())
	// A revocation is acknowledged only once it is durable.
	rp["synchronous_commit"] = "on"
	rp["application_name"] = "sessiond"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s := &Store{pool: pool, schema: opts.Schema, channel: "sessiond_" + opts.Schema}
	if len(s.channel) > 63 {
		s.channel = s.channel[:63]
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := pool.QueryRow(ctx, `SELECT key FROM feed_key WHERE id = 1`).Scan(&s.feedKey); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: the change feed's key: %w", err)
	}
	return s, nil
}

// validSchema reports whether name is a plain schema name whose change
// channel, "sessiond_" + name, fits PostgreSQL's 63-byte identifiers.
func validSchema(name string) bool {
	if name == "" || len(name) > 54 {
		return false
	}
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Close closes the pool. It is safe after a failed Open.
func (s *Store) Close() error {
	if s.pool != nil {
		s.pool.Close()
	}
	return nil
}

// migrate creates the schema and applies every embedded migration not yet
// recorded, holding an advisory lock so that nodes starting together do not
// race.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	lock := "sessiond_migrate_" + s.schema
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, lock); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, lock)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, name).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

const sessionColumns = `id, token_hash, user_id, tenant_id, ip_address, user_agent,
	created_at, last_activity, expires_at, authenticated_at, data, version, flags`

const insertSession = `INSERT INTO sessions (` + sessionColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

func sessionArgs(s *sessiond.Session) []any {
	var data []byte
	if s.Data != nil {
		data = s.Data
	}
	flags := s.Flags
	if flags == nil {
		flags = []string{}
	}
	return []any{s.ID, s.TokenHash[:], s.UserID, s.TenantID, s.IPAddress, s.UserAgent,
		s.CreatedAt, s.LastActivity, s.ExpiresAt, s.AuthenticatedAt, data, s.Version, flags}
}

// CreateSession implements sessiond.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess *sessiond.Session) error {
	_, err := s.pool.Exec(ctx, insertSession, sessionArgs(sess)...)
	return translate(err)
}

// SessionByTokenHash implements sessiond.SessionStore.
func (s *Store) SessionByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, error) {
	return scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1`, h[:]))
}

// SessionByID implements sessiond.SessionStore.
func (s *Store) SessionByID(ctx context.Context, id string) (*sessiond.Session, error) {
	return scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
}

// SessionsByUser implements sessiond.SessionStore with the user_id index.
func (s *Store) SessionsByUser(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	return s.querySessions(ctx, s.pool, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1`, userID)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (s *Store) querySessions(ctx context.Context, q querier, sql string, args ...any) ([]*sessiond.Session, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []*sessiond.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, translate(rows.Err())
}

// TouchSessions implements sessiond.SessionStore with one statement.
func (s *Store) TouchSessions(ctx context.Context, touches []sessiond.Touch) error {
	ids := make([]string, len(touches))
	ats := make([]time.Time, len(touches))
	for i, t := range touches {
		ids[i], ats[i] = t.ID, t.At
	}
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET last_activity = t.at
		FROM unnest($1::text[], $2::timestamptz[]) AS t(id, at)
		WHERE sessions.id = t.id AND sessions.last_activity < t.at`, ids, ats)
	return translate(err)
}

// UpdateSessionData implements sessiond.SessionStore.
func (s *Store) UpdateSessionData(ctx context.Context, id string, data json.RawMessage, version int64) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var d []byte
		if data != nil {
			d = data
		}
		tag, err := tx.Exec(ctx, `UPDATE sessions SET data = $1, version = version + 1 WHERE id = $2 AND version = $3`, d, id, version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, id).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return sessiond.ErrNotFound
			}
			return sessiond.ErrConflict
		}
		return s.notify(ctx, tx, sessiond.Change{SessionID: id})
	})
}

// RotateSession implements sessiond.SessionStore.
func (s *Store) RotateSession(ctx context.Context, oldID string, sess *sessiond.Session) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, oldID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sessiond.ErrNotFound
		}
		if _, err := tx.Exec(ctx, insertSession, sessionArgs(sess)...); err != nil {
			return err
		}
		return s.notify(ctx, tx, sessiond.Change{SessionID: oldID})
	})
}

// DeleteSession implements sessiond.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sessiond.ErrNotFound
		}
		return s.notify(ctx, tx, sessiond.Change{SessionID: id})
	})
}

// DeleteUserSessions implements sessiond.SessionStore.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, except)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		return s.notify(ctx, tx, sessiond.Change{UserID: userID})
	})
	return int(n), err
}

// CreateSessionLimited implements sessiond.SessionStore. A transaction-scoped
// advisory lock on the user serializes concurrent logins of that user on
// every node, so the count cannot be raced.
func (s *Store) CreateSessionLimited(ctx context.Context, sess *sessiond.Session, lim sessiond.Limit) ([]*sessiond.Session, error) {
	var evicted []*sessiond.Session
	err := s.tx(ctx, func(tx pgx.Tx) error {
		evicted = nil
		if lim.Max > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "sessiond_user:"+s.schema+":"+sess.UserID); err != nil {
				return err
			}
			live, err := s.querySessions(ctx, tx, `SELECT `+sessionColumns+` FROM sessions
				WHERE user_id = $1 AND expires_at > $2 AND last_activity > $3 ORDER BY last_activity, id`,
				sess.UserID, lim.Now, lim.IdleBefore)
			if err != nil {
				return err
			}
			if over := len(live) - lim.Max + 1; over > 0 {
				if !lim.Evict {
					return sessiond.ErrLimitReached
				}
				for _, old := range live[:over] {
					if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, old.ID); err != nil {
						return err
					}
					if err := s.notify(ctx, tx, sessiond.Change{SessionID: old.ID}); err != nil {
						return err
					}
					evicted = append(evicted, old)
				}
			}
		}
		_, err := tx.Exec(ctx, insertSession, sessionArgs(sess)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return evicted, nil
}

// SetSessionFlags implements sessiond.SessionStore.
func (s *Store) SetSessionFlags(ctx context.Context, id string, flags []string) error {
	if flags == nil {
		flags = []string{}
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sessions SET flags = $1 WHERE id = $2`, flags, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sessiond.ErrNotFound
		}
		return s.notify(ctx, tx, sessiond.Change{SessionID: id})
	})
}

// DeleteTenantSessions implements sessiond.SessionStore.
func (s *Store) DeleteTenantSessions(ctx context.Context, tenantID string) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE tenant_id = $1`, tenantID)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		return s.notify(ctx, tx, sessiond.Change{TenantID: tenantID})
	})
	return int(n), err
}

// DeleteExpiredSessions implements sessiond.SessionStore. Only one node
// purges at a time: a node that does not get the advisory lock deletes
// nothing and returns 0. It also deletes expired counters and migration
// records.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time, limit int) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var leader bool
		// The key names the configured schema: current_schema() is NULL
		// once the schema is gone, and the lock call would fail to scan.
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1))`, "sessiond_purge_"+s.schema).Scan(&leader); err != nil || !leader {
			return err
		}
		// Each branch is an index scan that stops after limit rows; a
		// plain UNION or OR would first collect every expired row, for
		// every batch.
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id IN (
			SELECT id FROM (
				(SELECT id FROM sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $3)
				UNION ALL
				(SELECT id FROM sessions WHERE last_activity <= $2 ORDER BY last_activity LIMIT $3)
			) AS victims LIMIT $3)`, now, idleBefore, limit)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `DELETE FROM counters WHERE expires_at <= $1`, now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM legacy_migrations WHERE expires_at <= $1`, now)
		return err
	})
	return int(n), err
}

// Ping implements sessiond.SessionStore.
func (s *Store) Ping(ctx context.Context) error { return translate(s.pool.Ping(ctx)) }

const userColumns = `id, email, email_key, password_hash, tenant_id, needs_onboarding,
	onboarding_step, disabled, attributes, created_at, updated_at, version`

// CreateUser implements sessiond.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *sessiond.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		u.ID, u.Email, u.EmailKey, u.PasswordHash, u.TenantID, u.NeedsOnboarding, u.OnboardingStep, u.Disabled, attributes(u), u.CreatedAt, u.UpdatedAt, u.Version)
	return translate(err)
}

// UserByID implements sessiond.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (*sessiond.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// UserByEmailKey implements sessiond.UserStore.
func (s *Store) UserByEmailKey(ctx context.Context, key string) (*sessiond.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = $1`, key))
}

// UpdateUser implements sessiond.UserStore: one UPDATE conditional on the
// version, which PostgreSQL applies atomically under the row lock.
func (s *Store) UpdateUser(ctx context.Context, u *sessiond.User) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET email = $1, email_key = $2, password_hash = $3, tenant_id = $4,
			needs_onboarding = $5, onboarding_step = $6, disabled = $7, attributes = $8, updated_at = $9, version = version + 1
			WHERE id = $10 AND version = $11`,
			u.Email, u.EmailKey, u.PasswordHash, u.TenantID, u.NeedsOnboarding, u.OnboardingStep, u.Disabled, attributes(u), u.UpdatedAt, u.ID, u.Version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var found bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, u.ID).Scan(&found); err != nil {
				return err
			}
			if !found {
				return sessiond.ErrNotFound
			}
			return sessiond.ErrConflict
		}
		return s.notify(ctx, tx, sessiond.Change{UserID: u.ID})
	})
	if err == nil {
		u.Version++
	}
	return err
}

// DeleteUser implements sessiond.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sessiond.ErrNotFound
		}
		return s.notify(ctx, tx, sessiond.Change{UserID: id})
	})
}

// ListUsers implements sessiond.UserStore. IDs compare in the "C"
// collation (byte order) whatever the database's collation; translate()
// folds ASCII letters only, as sessiond.LowerASCII does.
func (s *Store) ListUsers(ctx context.Context, f sessiond.UserFilter) ([]*sessiond.User, string, error) {
	limit := max(f.Limit, 1)
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users
		WHERE id COLLATE "C" > $1 AND ($2 = '' OR tenant_id = $2)
		AND starts_with(translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), $3)
		ORDER BY id COLLATE "C" LIMIT $4`, f.After, f.TenantID, sessiond.LowerASCII(f.EmailPrefix), limit+1)
	if err != nil {
		return nil, "", translate(err)
	}
	defer rows.Close()
	var list []*sessiond.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, "", err
		}
		list = append(list, u)
	}
	if err := rows.Err(); err != nil {
		return nil, "", translate(err)
	}
	if len(list) > limit {
		return list[:limit], list[limit-1].ID, nil
	}
	return list, "", nil
}

// IncrementCounter implements sessiond.CounterStore.
func (s *Store) IncrementCounter(ctx context.Context, key string, now time.Time, ttl time.Duration) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `INSERT INTO counters (key, count, last_at, expires_at) VALUES ($1, 1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.expires_at <= excluded.last_at THEN 1 ELSE counters.count + 1 END,
			last_at = excluded.last_at, expires_at = excluded.expires_at
		RETURNING count`, key, now, now.Add(ttl)).Scan(&n)
	return n, translate(err)
}

// ReserveCounter implements sessiond.CounterStore in one statement: the
// upsert's WHERE refuses an update while the back-off runs.
func (s *Store) ReserveCounter(ctx context.Context, key string, now time.Time, ttl time.Duration, b sessiond.Backoff) (bool, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `INSERT INTO counters (key, count, last_at, expires_at) VALUES ($1, 1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.expires_at <= excluded.last_at THEN 1 ELSE counters.count + 1 END,
			last_at = excluded.last_at, expires_at = excluded.expires_at
		WHERE counters.expires_at <= excluded.last_at OR counters.count < $4
			OR counters.last_at + make_interval(secs => LEAST($5::bigint << LEAST(counters.count - $4, $6::bigint)::int, $7::bigint) / 1e6) <= excluded.last_at
		RETURNING count`, key, now, now.Add(ttl), b.Free, b.Base.Microseconds(), b.Doublings(), b.Max.Microseconds()).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, translate(err)
}

// ReleaseCounter implements sessiond.CounterStore.
func (s *Store) ReleaseCounter(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `UPDATE counters SET count = count - 1 WHERE key = $1 AND count > 0`, key)
	return translate(err)
}

// Counter implements sessiond.CounterStore.
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, time.Time, error) {
	var (
		n    int64
		last time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count, last_at FROM counters WHERE key = $1 AND expires_at > $2`, key, now).Scan(&n, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	return n, last.UTC(), nil
}

// ResetCounter implements sessiond.CounterStore.
func (s *Store) ResetCounter(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM counters WHERE key = $1`, key)
	return translate(err)
}

// AppendEvent implements sessiond.EventStore.
func (s *Store) AppendEvent(ctx context.Context, e *sessiond.Event) error {
	detail := e.Detail
	if detail == nil {
		detail = map[string]string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO events (id, type, user_id, session_id, ip_address, user_agent, at, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, e.Type, e.UserID, e.SessionID, e.IPAddress, e.UserAgent, e.At, detail)
	return translate(err)
}

// EventsByUser implements sessiond.EventStore.
func (s *Store) EventsByUser(ctx context.Context, userID string, limit int) ([]*sessiond.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, type, user_id, session_id, ip_address, user_agent, at, detail
		FROM events WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []*sessiond.Event
	for rows.Next() {
		var e sessiond.Event
		if err := rows.Scan(&e.ID, &e.Type, &e.UserID, &e.SessionID, &e.IPAddress, &e.UserAgent, &e.At, &e.Detail); err != nil {
			return nil, translate(err)
		}
		e.At = e.At.UTC()
		if len(e.Detail) == 0 {
			e.Detail = nil
		}
		out = append(out, &e)
	}
	return out, translate(rows.Err())
}

// DeleteEventsBefore implements sessiond.EventStore.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < $1 LIMIT $2)`, before, limit)
	if err != nil {
		return 0, translate(err)
	}
	return int(tag.RowsAffected()), nil
}

// SeenDevice implements sessiond.DeviceStore.
func (s *Store) SeenDevice(ctx context.Context, userID, fingerprint string, at time.Time) (bool, error) {
	var isNew bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO devices (user_id, fingerprint, first_seen, last_seen) VALUES ($1, $2, $3, $3)
			ON CONFLICT (user_id, fingerprint) DO NOTHING`, userID, fingerprint, at)
		if err != nil {
			return err
		}
		if isNew = tag.RowsAffected() == 1; isNew {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE devices SET last_seen = GREATEST(last_seen, $3) WHERE user_id = $1 AND fingerprint = $2`,
			userID, fingerprint, at)
		return err
	})
	return isNew, err
}

const migrationColumns = `key, state, sealed, created_at, share_until, expires_at`

// ClaimMigration implements sessiond.MigrationStore: an insert that does
// nothing on conflict, then a conditional takeover of an expired record, so
// that of any number of concurrent claims on any nodes exactly one wins.
func (s *Store) ClaimMigration(ctx context.Context, key sessiond.TokenHash, now, pendingUntil time.Time) (*sessiond.Migration, bool, error) {
	m := &sessiond.Migration{Key: key, State: sessiond.MigrationPending, CreatedAt: now, ShareUntil: pendingUntil, ExpiresAt: pendingUntil}
	tag, err := s.pool.Exec(ctx, `INSERT INTO legacy_migrations (key, state, created_at, share_until, expires_at)
		VALUES ($1, $2, $3, $4, $4) ON CONFLICT (key) DO NOTHING`, key[:], m.State, now, pendingUntil)
	if err != nil {
		return nil, false, translate(err)
	}
	if tag.RowsAffected() == 1 {
		return m, true, nil
	}
	tag, err = s.pool.Exec(ctx, `UPDATE legacy_migrations SET state = $2, sealed = NULL, created_at = $3, share_until = $4, expires_at = $4
		WHERE key = $1 AND expires_at <= $3`, key[:], m.State, now, pendingUntil)
	if err != nil {
		return nil, false, translate(err)
	}
	if tag.RowsAffected() == 1 {
		return m, true, nil
	}
	cur, err := s.MigrationByKey(ctx, key)
	if err != nil {
		return nil, false, err
	}
	return cur, false, nil
}

// MigrationByKey implements sessiond.MigrationStore.
func (s *Store) MigrationByKey(ctx context.Context, key sessiond.TokenHash) (*sessiond.Migration, error) {
	var (
		m      sessiond.Migration
		keyRaw []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT `+migrationColumns+` FROM legacy_migrations WHERE key = $1`, key[:]).
		Scan(&keyRaw, &m.State, &m.Sealed, &m.CreatedAt, &m.ShareUntil, &m.ExpiresAt)
	if err != nil {
		return nil, translate(err)
	}
	copy(m.Key[:], keyRaw)
	m.CreatedAt, m.ShareUntil, m.ExpiresAt = m.CreatedAt.UTC(), m.ShareUntil.UTC(), m.ExpiresAt.UTC()
	return &m, nil
}

// FinishMigration implements sessiond.MigrationStore.
func (s *Store) FinishMigration(ctx context.Context, m *sessiond.Migration) error {
	tag, err := s.pool.Exec(ctx, `UPDATE legacy_migrations SET state = $1, sealed = $2, share_until = $3, expires_at = $4
		WHERE key = $5 AND state = $6`, m.State, m.Sealed, m.ShareUntil, m.ExpiresAt, m.Key[:], sessiond.MigrationPending)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteMigration implements sessiond.MigrationStore.
func (s *Store) DeleteMigration(ctx context.Context, key sessiond.TokenHash) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM legacy_migrations WHERE key = $1`, key[:])
	return translate(err)
}

// notify announces a change to every node's cache. NOTIFY is delivered on
// commit, and not at all on rollback. The payload names no session, user
// or tenant: any role that can connect may LISTEN, so ids are concealed
// (see ConcealChange).
func (s *Store) notify(ctx context.Context, tx pgx.Tx, c sessiond.Change) error {
	payload := s.ConcealChange(c).String()
	if len(payload) > 7000 {
		// NOTIFY payloads are limited to 8000 bytes; ids never come close,
		// but a truncated one would be a silent miss.
		return fmt.Errorf("pgstore: change %q too long to announce", payload[:32])
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, payload)
	return err
}

// ConcealChange implements sessiond.ChangeConcealer with the key of the
// feed_key table, which only roles that can read sessiond's tables can
// read: a listener without them learns that something changed, not what.
func (s *Store) ConcealChange(c sessiond.Change) sessiond.Change {
	return sessiond.ConcealChange(s.feedKey, c)
}

// ProbeFeed implements sessiond.FeedProber: the probe is a NOTIFY on the
// channel that WatchChanges listens to, delivered in commit order with every
// other change.
func (s *Store) ProbeFeed(ctx context.Context, probe string) error {
	_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, sessiond.Change{Probe: probe}.String())
	return translate(err)
}

// WatchChanges implements sessiond.ChangeWatcher with LISTEN on a dedicated
// connection: a change reaches the callback as soon as its transaction
// commits. It returns when the connection is lost.
func (s *Store) WatchChanges(ctx context.Context, connected func(), onChange func(sessiond.Change)) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return translate(err)
	}
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return translate(err)
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return translate(err)
		}
		if c, ok := sessiond.ParseChange(n.Payload); ok {
			onChange(c)
		}
	}
}

func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return translate(pgx.BeginFunc(ctx, s.pool, fn))
}

func scanSession(row pgx.Row) (*sessiond.Session, error) {
	var (
		sess  sessiond.Session
		hash  []byte
		data  []byte
		flags []string
	)
	err := row.Scan(&sess.ID, &hash, &sess.UserID, &sess.TenantID, &sess.IPAddress, &sess.UserAgent,
		&sess.CreatedAt, &sess.LastActivity, &sess.ExpiresAt, &sess.AuthenticatedAt, &data, &sess.Version, &flags)
	if err != nil {
		return nil, translate(err)
	}
	if len(hash) != len(sess.TokenHash) {
		return nil, fmt.Errorf("pgstore: session %s has a token hash of %d bytes", sess.ID, len(hash))
	}
	copy(sess.TokenHash[:], hash)
	sess.CreatedAt, sess.LastActivity = sess.CreatedAt.UTC(), sess.LastActivity.UTC()
	sess.ExpiresAt, sess.AuthenticatedAt = sess.ExpiresAt.UTC(), sess.AuthenticatedAt.UTC()
	if data != nil {
		sess.Data = json.RawMessage(data)
	}
	if len(flags) > 0 {
		sess.Flags = flags
	}
	return &sess, nil
}

func scanUser(row pgx.Row) (*sessiond.User, error) {
	var (
		u     sessiond.User
		attrs string
	)
	err := row.Scan(&u.ID, &u.Email, &u.EmailKey, &u.PasswordHash, &u.TenantID, &u.NeedsOnboarding,
		&u.OnboardingStep, &u.Disabled, &attrs, &u.CreatedAt, &u.UpdatedAt, &u.Version)
	if err != nil {
		return nil, translate(err)
	}
	u.Attributes = json.RawMessage(attrs)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

// attributes is the stored form of a user's attributes: {} for none.
func attributes(u *sessiond.User) string {
	if len(u.Attributes) == 0 {
		return "{}"
	}
	return string(u.Attributes)
}

// translate turns driver errors into sessiond's sentinels at the boundary:
// no rows is ErrNotFound, a unique violation ErrConflict; our own errors pass
// through; anything else is a system error that names no driver type.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return sessiond.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return sessiond.ErrConflict
	}
	return sessiond.StoreError("pgstore", err)
}

var (
	_ sessiond.Store           = (*Store)(nil)
	_ sessiond.ChangeWatcher   = (*Store)(nil)
	_ sessiond.FeedProber      = (*Store)(nil)
	_ sessiond.ChangeConcealer = (*Store)(nil)
)
