// Package sqlitestore is sessiond's embedded store: one SQLite file (pure Go,
// modernc.org/sqlite), nothing else to install. It uses WAL with
// synchronous=FULL, so a committed revocation survives a power loss, and one
// writer connection beside a pool of readers, so writers queue in Go rather
// than spinning on SQLITE_BUSY.
//
// Several processes may open the same file (the server and the sessiond CLI):
// every revocation and update is also appended to a change feed that
// WatchChanges polls, so each process's cache hears of the others' changes.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sessiond/sessiond"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure a Store. Zero fields take their defaults.
type Options struct {
	// Synchronous is SQLite's synchronous pragma: FULL (default) makes
	// every commit durable; NORMAL is faster and may lose the last
	// transactions, revocations included, on power loss.
	Synchronous string
	// BusyTimeout is how long a statement waits for a lock. Default 5s.
	BusyTimeout time.Duration
	// ReadConns is the size of the reader pool. Default max(4, 2×GOMAXPROCS).
	ReadConns int
	// PollInterval is how often WatchChanges reads the change feed, and so
	// the bound on how late another process's revocation reaches this
	// process's cache. Default 100ms.
	PollInterval time.Duration
	// ChangeRetention is how long change-feed rows are kept. Default 1h.
	ChangeRetention time.Duration
}

// Store is a sessiond.Store on one SQLite file.
type Store struct {
	w, r *sql.DB
	opts Options

	// Hot reads are prepared once: SQLite's parser costs more than the
	// indexed lookup itself.
	bySessionHash, bySessionID, byUser, userByID, userByEmail *sql.Stmt
}

// Open opens (creating if needed) the database at path and applies the
// embedded schema migrations.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlitestore: empty path")
	}
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	switch strings.ToUpper(opts.Synchronous) {
	case "FULL", "NORMAL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlitestore: synchronous must be FULL, NORMAL or EXTRA, not %q", opts.Synchronous)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	if opts.ChangeRetention <= 0 {
		opts.ChangeRetention = time.Hour
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+strings.ToUpper(opts.Synchronous)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()

	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	s := &Store{w: w, r: r, opts: opts}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		if why := explainOpen(path); why != nil {
			return nil, fmt.Errorf("sqlitestore: %w (%w)", why, err)
		}
		return nil, fmt.Errorf("sqlitestore: %s: %w", path, err)
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: %s: %w", path, err)
	}
	// A database that opens and reads but cannot take a write (a
	// read-only file or directory) would fail every login: refuse it now.
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: %s cannot be written: %w", path, err)
	}
	return s, nil
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.bySessionHash, `SELECT ` + sessionColumns + ` FROM sessions WHERE token_hash = ?`},
		{&s.bySessionID, `SELECT ` + sessionColumns + ` FROM sessions WHERE id = ?`},
		{&s.byUser, `SELECT ` + sessionColumns + ` FROM sessions WHERE user_id = ?`},
		{&s.userByID, `SELECT ` + userColumns + ` FROM users WHERE id = ?`},
		{&s.userByEmail, `SELECT ` + userColumns + ` FROM users WHERE email_key = ?`},
	} {
		stmt, err := s.r.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		*p.stmt = stmt
	}
	return nil
}

// Close closes both connection pools. It is safe after a failed Open.
func (s *Store) Close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{s.bySessionHash, s.bySessionID, s.byUser, s.userByID, s.userByEmail} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(append(errs, closeDB(s.w), closeDB(s.r))...)
}

func closeDB(db *sql.DB) error {
	if db == nil {
		return nil
	}
	return db.Close()
}

// migrate applies, in order, every embedded migration not yet recorded.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.applyMigration(ctx, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, name string) error {
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		name, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

const sessionColumns = `id, token_hash, user_id, tenant_id, ip_address, user_agent,
	created_at, last_activity, expires_at, authenticated_at, data, version, flags`

// CreateSession implements sessiond.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess *sessiond.Session) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sessionArgs(sess)...)
	return translate(err)
}

func sessionArgs(sess *sessiond.Session) []any {
	var data any
	if sess.Data != nil {
		data = []byte(sess.Data)
	}
	return []any{sess.ID, sess.TokenHash[:], sess.UserID, sess.TenantID, sess.IPAddress, sess.UserAgent,
		micros(sess.CreatedAt), micros(sess.LastActivity), micros(sess.ExpiresAt), micros(sess.AuthenticatedAt),
		data, sess.Version, strings.Join(sess.Flags, ",")}
}

// SessionByTokenHash implements sessiond.SessionStore.
func (s *Store) SessionByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, error) {
	return scanSession(s.bySessionHash.QueryRowContext(ctx, h[:]))
}

// SessionByID implements sessiond.SessionStore.
func (s *Store) SessionByID(ctx context.Context, id string) (*sessiond.Session, error) {
	return scanSession(s.bySessionID.QueryRowContext(ctx, id))
}

// SessionsByUser implements sessiond.SessionStore with the user_id index.
func (s *Store) SessionsByUser(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	rows, err := s.byUser.QueryContext(ctx, userID)
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

// TouchSessions implements sessiond.SessionStore in one transaction.
func (s *Store) TouchSessions(ctx context.Context, touches []sessiond.Touch) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE sessions SET last_activity = ? WHERE id = ? AND last_activity < ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, t := range touches {
			at := micros(t.At)
			if _, err := stmt.ExecContext(ctx, at, t.ID, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateSessionData implements sessiond.SessionStore.
func (s *Store) UpdateSessionData(ctx context.Context, id string, data json.RawMessage, version int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var d any
		if data != nil {
			d = []byte(data)
		}
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET data = ?, version = version + 1 WHERE id = ? AND version = ?`, d, id, version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var exists int
			err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE id = ?`, id).Scan(&exists)
			switch {
			case err != nil:
				return err
			case exists == 0:
				return sessiond.ErrNotFound
			default:
				return sessiond.ErrConflict
			}
		}
		return logChange(ctx, tx, sessiond.Change{SessionID: id})
	})
}

// RotateSession implements sessiond.SessionStore.
func (s *Store) RotateSession(ctx context.Context, oldID string, sess *sessiond.Session) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, oldID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sessiond.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sessionArgs(sess)...); err != nil {
			return err
		}
		return logChange(ctx, tx, sessiond.Change{SessionID: oldID})
	})
}

// DeleteSession implements sessiond.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sessiond.ErrNotFound
		}
		return logChange(ctx, tx, sessiond.Change{SessionID: id})
	})
}

// DeleteUserSessions implements sessiond.SessionStore.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, except)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if n == 0 {
			return nil
		}
		return logChange(ctx, tx, sessiond.Change{UserID: userID})
	})
	return int(n), err
}

// CreateSessionLimited implements sessiond.SessionStore. The transaction
// takes SQLite's write lock at BEGIN (IMMEDIATE), so concurrent calls for one
// user are serialized and the count cannot be raced.
func (s *Store) CreateSessionLimited(ctx context.Context, sess *sessiond.Session, lim sessiond.Limit) ([]*sessiond.Session, error) {
	var evicted []*sessiond.Session
	err := s.tx(ctx, func(tx *sql.Tx) error {
		evicted = nil
		if lim.Max > 0 {
			rows, err := tx.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
				WHERE user_id = ? AND expires_at > ? AND last_activity > ?
				ORDER BY last_activity, id`, sess.UserID, micros(lim.Now), micros(lim.IdleBefore))
			if err != nil {
				return err
			}
			var live []*sessiond.Session
			for rows.Next() {
				ls, err := scanSession(rows)
				if err != nil {
					rows.Close()
					return err
				}
				live = append(live, ls)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if over := len(live) - lim.Max + 1; over > 0 {
				if !lim.Evict {
					return sessiond.ErrLimitReached
				}
				for _, old := range live[:over] {
					if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, old.ID); err != nil {
						return err
					}
					if err := logChange(ctx, tx, sessiond.Change{SessionID: old.ID}); err != nil {
						return err
					}
					evicted = append(evicted, old)
				}
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sessionArgs(sess)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return evicted, nil
}

// SetSessionFlags implements sessiond.SessionStore.
func (s *Store) SetSessionFlags(ctx context.Context, id string, flags []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET flags = ? WHERE id = ?`, strings.Join(flags, ","), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sessiond.ErrNotFound
		}
		return logChange(ctx, tx, sessiond.Change{SessionID: id})
	})
}

// DeleteTenantSessions implements sessiond.SessionStore.
func (s *Store) DeleteTenantSessions(ctx context.Context, tenantID string) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE tenant_id = ?`, tenantID)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil
		}
		return logChange(ctx, tx, sessiond.Change{TenantID: tenantID})
	})
	return int(n), err
}

// IncrementCounter implements sessiond.CounterStore.
func (s *Store) IncrementCounter(ctx context.Context, key string, now time.Time, ttl time.Duration) (int64, error) {
	var n int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO counters (key, count, last_at, expires_at) VALUES (?, 1, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.expires_at <= excluded.last_at THEN 1 ELSE counters.count + 1 END,
			last_at = excluded.last_at, expires_at = excluded.expires_at
		RETURNING count`, key, micros(now), micros(now.Add(ttl))).Scan(&n)
	return n, translate(err)
}

// ReserveCounter implements sessiond.CounterStore in one statement: the
// upsert's WHERE refuses an update while the back-off runs.
func (s *Store) ReserveCounter(ctx context.Context, key string, now time.Time, ttl time.Duration, b sessiond.Backoff) (bool, error) {
	var n int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO counters (key, count, last_at, expires_at) VALUES (?1, 1, ?2, ?3)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.expires_at <= excluded.last_at THEN 1 ELSE counters.count + 1 END,
			last_at = excluded.last_at, expires_at = excluded.expires_at
		WHERE counters.expires_at <= excluded.last_at OR counters.count < ?4
			OR counters.last_at + MIN(?5 << MIN(counters.count - ?4, ?6), ?7) <= excluded.last_at
		RETURNING count`, key, micros(now), micros(now.Add(ttl)), b.Free, b.Base.Microseconds(), b.Doublings(), b.Max.Microseconds()).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, translate(err)
}

// ReleaseCounter implements sessiond.CounterStore.
func (s *Store) ReleaseCounter(ctx context.Context, key string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE counters SET count = count - 1 WHERE key = ? AND count > 0`, key)
	return translate(err)
}

// Counter implements sessiond.CounterStore.
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, time.Time, error) {
	var n, last int64
	err := s.r.QueryRowContext(ctx, `SELECT count, last_at FROM counters WHERE key = ? AND expires_at > ?`, key, micros(now)).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	return n, fromMicros(last), nil
}

// ResetCounter implements sessiond.CounterStore.
func (s *Store) ResetCounter(ctx context.Context, key string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM counters WHERE key = ?`, key)
	return translate(err)
}

// AppendEvent implements sessiond.EventStore.
func (s *Store) AppendEvent(ctx context.Context, e *sessiond.Event) error {
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO events (id, type, user_id, session_id, ip_address, user_agent, at, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Type, e.UserID, e.SessionID, e.IPAddress, e.UserAgent, micros(e.At), string(detail))
	return translate(err)
}

// EventsByUser implements sessiond.EventStore.
func (s *Store) EventsByUser(ctx context.Context, userID string, limit int) ([]*sessiond.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, type, user_id, session_id, ip_address, user_agent, at, detail
		FROM events WHERE user_id = ? ORDER BY at DESC, id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []*sessiond.Event
	for rows.Next() {
		var (
			e      sessiond.Event
			at     int64
			detail string
		)
		if err := rows.Scan(&e.ID, &e.Type, &e.UserID, &e.SessionID, &e.IPAddress, &e.UserAgent, &at, &detail); err != nil {
			return nil, translate(err)
		}
		e.At = fromMicros(at)
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlitestore: event %s: detail: %v", e.ID, err)
		}
		out = append(out, &e)
	}
	return out, translate(rows.Err())
}

// DeleteEventsBefore implements sessiond.EventStore.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? LIMIT ?)`, micros(before), limit)
	if err != nil {
		return 0, translate(err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// SeenDevice implements sessiond.DeviceStore.
func (s *Store) SeenDevice(ctx context.Context, userID, fingerprint string, at time.Time) (bool, error) {
	var isNew bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO devices (user_id, fingerprint, first_seen, last_seen) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, fingerprint) DO NOTHING`, userID, fingerprint, micros(at), micros(at))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			isNew = true
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE devices SET last_seen = max(last_seen, ?) WHERE user_id = ? AND fingerprint = ?`,
			micros(at), userID, fingerprint)
		return err
	})
	return isNew, err
}

// ClaimMigration implements sessiond.MigrationStore.
func (s *Store) ClaimMigration(ctx context.Context, key sessiond.TokenHash, now, pendingUntil time.Time) (*sessiond.Migration, bool, error) {
	var (
		m       *sessiond.Migration
		claimed bool
	)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := scanMigration(tx.QueryRowContext(ctx, `SELECT `+migrationColumns+` FROM legacy_migrations WHERE key = ?`, key[:]))
		if err == nil && cur.ExpiresAt.After(now) {
			m = cur
			return nil
		}
		if err != nil && !errors.Is(err, sessiond.ErrNotFound) {
			return err
		}
		m = &sessiond.Migration{Key: key, State: sessiond.MigrationPending, CreatedAt: now, ShareUntil: pendingUntil, ExpiresAt: pendingUntil}
		claimed = true
		_, err = tx.ExecContext(ctx, `INSERT INTO legacy_migrations (key, state, sealed, created_at, share_until, expires_at)
			VALUES (?, ?, NULL, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET state = excluded.state, sealed = NULL, created_at = excluded.created_at,
				share_until = excluded.share_until, expires_at = excluded.expires_at`,
			key[:], m.State, micros(now), micros(pendingUntil), micros(pendingUntil))
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return m, claimed, nil
}

// MigrationByKey implements sessiond.MigrationStore.
func (s *Store) MigrationByKey(ctx context.Context, key sessiond.TokenHash) (*sessiond.Migration, error) {
	return scanMigration(s.r.QueryRowContext(ctx, `SELECT `+migrationColumns+` FROM legacy_migrations WHERE key = ?`, key[:]))
}

// FinishMigration implements sessiond.MigrationStore.
func (s *Store) FinishMigration(ctx context.Context, m *sessiond.Migration) error {
	res, err := s.w.ExecContext(ctx, `UPDATE legacy_migrations SET state = ?, sealed = ?, share_until = ?, expires_at = ?
		WHERE key = ? AND state = ?`, m.State, m.Sealed, micros(m.ShareUntil), micros(m.ExpiresAt), m.Key[:], sessiond.MigrationPending)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteMigration implements sessiond.MigrationStore.
func (s *Store) DeleteMigration(ctx context.Context, key sessiond.TokenHash) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM legacy_migrations WHERE key = ?`, key[:])
	return translate(err)
}

const migrationColumns = `key, state, sealed, created_at, share_until, expires_at`

func scanMigration(row scanner) (*sessiond.Migration, error) {
	var (
		m                       sessiond.Migration
		key, sealed             []byte
		created, share, expires int64
	)
	if err := row.Scan(&key, &m.State, &sealed, &created, &share, &expires); err != nil {
		return nil, translate(err)
	}
	copy(m.Key[:], key)
	m.Sealed = sealed
	m.CreatedAt, m.ShareUntil, m.ExpiresAt = fromMicros(created), fromMicros(share), fromMicros(expires)
	return &m, nil
}

// DeleteExpiredSessions implements sessiond.SessionStore. It also deletes
// expired counters and migration records and trims the change feed, each
// in batches of limit rows, every batch its own short transaction, so
// that a large backlog never holds the write lock for long (#9.18).
func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time, limit int) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Each branch is an index scan that stops after limit rows; a
		// plain UNION or OR would first collect every expired row, for
		// every batch.
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id IN (
			SELECT id FROM (SELECT id FROM sessions WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?3)
			UNION ALL
			SELECT id FROM (SELECT id FROM sessions WHERE last_activity <= ?2 ORDER BY last_activity LIMIT ?3)
			LIMIT ?3)`, micros(now), micros(idleBefore), limit)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return int(n), err
	}
	for _, q := range []struct {
		sql   string
		since int64
	}{
		{`DELETE FROM counters WHERE rowid IN (SELECT rowid FROM counters WHERE expires_at <= ?1 LIMIT ?2)`, micros(now)},
		{`DELETE FROM legacy_migrations WHERE rowid IN (SELECT rowid FROM legacy_migrations WHERE expires_at <= ?1 LIMIT ?2)`, micros(now)},
		{`DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE at < ?1 ORDER BY at LIMIT ?2)`, micros(now.Add(-s.opts.ChangeRetention))},
	} {
		if err := s.deleteBatches(ctx, q.sql, q.since, limit); err != nil {
			return int(n), err
		}
	}
	return int(n), nil
}

// maxSideBatches bounds the batches of one side table that one purge call
// deletes: a backlog shrinks by up to this many batches a minute, and the
// writer is free between batches.
const maxSideBatches = 200

// deleteBatches runs a batched DELETE (?1 the cutoff, ?2 the batch size)
// until a batch deletes fewer than limit rows, maxSideBatches have run or
// ctx ends.
func (s *Store) deleteBatches(ctx context.Context, query string, cutoff int64, limit int) error {
	for range maxSideBatches {
		res, err := s.w.ExecContext(ctx, query, cutoff, limit)
		if err != nil {
			return translate(err)
		}
		if n, _ := res.RowsAffected(); n < int64(limit) {
			return nil
		}
	}
	return nil
}

// Ping implements sessiond.SessionStore. It writes (one small row, expired
// at once, through the write-ahead log and its fsync): a file that can be
// read but not written (disk full, read-only, a lost lock) is not ready
// (SEC-32).
func (s *Store) Ping(ctx context.Context) error {
	now := micros(time.Now())
	_, err := s.w.ExecContext(ctx, `INSERT INTO counters (key, count, last_at, expires_at) VALUES ('sessiond:ping', 0, ?1, ?1)
		ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at, expires_at = excluded.expires_at`, now)
	return translate(err)
}

const userColumns = `id, email, email_key, password_hash, tenant_id, needs_onboarding,
	onboarding_step, disabled, attributes, created_at, updated_at, version`

// CreateUser implements sessiond.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *sessiond.User) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.EmailKey, u.PasswordHash, u.TenantID, u.NeedsOnboarding,
		u.OnboardingStep, u.Disabled, attributes(u), micros(u.CreatedAt), micros(u.UpdatedAt), u.Version)
	return translate(err)
}

// UserByID implements sessiond.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (*sessiond.User, error) {
	return scanUser(s.userByID.QueryRowContext(ctx, id))
}

// UserByEmailKey implements sessiond.UserStore.
func (s *Store) UserByEmailKey(ctx context.Context, key string) (*sessiond.User, error) {
	return scanUser(s.userByEmail.QueryRowContext(ctx, key))
}

// UpdateUser implements sessiond.UserStore: the update is conditional on
// the version, in the writer's transaction.
func (s *Store) UpdateUser(ctx context.Context, u *sessiond.User) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, email_key = ?, password_hash = ?, tenant_id = ?,
			needs_onboarding = ?, onboarding_step = ?, disabled = ?, attributes = ?, updated_at = ?, version = version + 1
			WHERE id = ? AND version = ?`,
			u.Email, u.EmailKey, u.PasswordHash, u.TenantID, u.NeedsOnboarding, u.OnboardingStep, u.Disabled,
			attributes(u), micros(u.UpdatedAt), u.ID, u.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var found int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ?`, u.ID).Scan(&found); err != nil {
				return err
			}
			if found == 0 {
				return sessiond.ErrNotFound
			}
			return sessiond.ErrConflict
		}
		return logChange(ctx, tx, sessiond.Change{UserID: u.ID})
	})
	if err == nil {
		u.Version++
	}
	return err
}

// DeleteUser implements sessiond.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sessiond.ErrNotFound
		}
		return logChange(ctx, tx, sessiond.Change{UserID: id})
	})
}

// ListUsers implements sessiond.UserStore, walking the primary key in
// SQLite's binary (byte) order. lower() folds ASCII letters only, as
// sessiond.LowerASCII does.
func (s *Store) ListUsers(ctx context.Context, f sessiond.UserFilter) ([]*sessiond.User, string, error) {
	limit := max(f.Limit, 1)
	prefix := sessiond.LowerASCII(f.EmailPrefix)
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE id > ? AND (? = '' OR tenant_id = ?) AND substr(lower(email), 1, length(?)) = ?
		ORDER BY id LIMIT ?`, f.After, f.TenantID, f.TenantID, prefix, prefix, limit+1)
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

// WatchChanges implements sessiond.ChangeWatcher by polling the change feed
// every PollInterval.
func (s *Store) WatchChanges(ctx context.Context, connected func(), onChange func(sessiond.Change)) error {
	var last int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&last); err != nil {
		return translate(err)
	}
	connected()
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		next, err := s.readChanges(ctx, last, onChange)
		if err != nil {
			return err
		}
		last = next
	}
}

func (s *Store) readChanges(ctx context.Context, after int64, onChange func(sessiond.Change)) (int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, session_id, user_id, tenant_id FROM changes WHERE seq > ? ORDER BY seq`, after)
	if err != nil {
		return after, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c sessiond.Change
		if err := rows.Scan(&after, &c.SessionID, &c.UserID, &c.TenantID); err != nil {
			return after, translate(err)
		}
		onChange(c)
	}
	return after, translate(rows.Err())
}

// tx runs fn in a write transaction and translates its error.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return translate(err)
	}
	return translate(tx.Commit())
}

func logChange(ctx context.Context, tx *sql.Tx, c sessiond.Change) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO changes (session_id, user_id, tenant_id, at) VALUES (?, ?, ?, ?)`,
		c.SessionID, c.UserID, c.TenantID, time.Now().UnixMicro())
	return err
}

type scanner interface{ Scan(...any) error }

func scanSession(row scanner) (*sessiond.Session, error) {
	var (
		sess                             sessiond.Session
		hash, data                       []byte
		created, last, expires, authedAt int64
		flags                            string
	)
	err := row.Scan(&sess.ID, &hash, &sess.UserID, &sess.TenantID, &sess.IPAddress, &sess.UserAgent,
		&created, &last, &expires, &authedAt, &data, &sess.Version, &flags)
	if err != nil {
		return nil, translate(err)
	}
	if len(hash) != len(sess.TokenHash) {
		return nil, fmt.Errorf("sqlitestore: session %s has a token hash of %d bytes", sess.ID, len(hash))
	}
	copy(sess.TokenHash[:], hash)
	sess.CreatedAt, sess.LastActivity = fromMicros(created), fromMicros(last)
	sess.ExpiresAt, sess.AuthenticatedAt = fromMicros(expires), fromMicros(authedAt)
	if data != nil {
		sess.Data = json.RawMessage(data)
	}
	if flags != "" {
		sess.Flags = strings.Split(flags, ",")
	}
	return &sess, nil
}

func scanUser(row scanner) (*sessiond.User, error) {
	var (
		u                sessiond.User
		attrs            string
		created, updated int64
	)
	err := row.Scan(&u.ID, &u.Email, &u.EmailKey, &u.PasswordHash, &u.TenantID, &u.NeedsOnboarding,
		&u.OnboardingStep, &u.Disabled, &attrs, &created, &updated, &u.Version)
	if err != nil {
		return nil, translate(err)
	}
	u.Attributes = json.RawMessage(attrs)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &u, nil
}

// attributes is the stored form of a user's attributes: {} for none.
func attributes(u *sessiond.User) string {
	if len(u.Attributes) == 0 {
		return "{}"
	}
	return string(u.Attributes)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// translate turns driver errors into sessiond's sentinels: no rows is
// ErrNotFound, a unique or primary-key violation is ErrConflict. Anything else
// stays a system error; our own sentinels pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return sessiond.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return sessiond.ErrConflict
		}
	}
	return sessiond.StoreError("sqlitestore", err)
}

var (
	_ sessiond.Store         = (*Store)(nil)
	_ sessiond.ChangeWatcher = (*Store)(nil)
)
