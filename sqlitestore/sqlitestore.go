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
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sessiond/sessiond"
)

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
	bySessionHash, bySessionID, byUser, userByID, userByEmail, sessionAndUserByHash *sql.Stmt
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
		{&s.sessionAndUserByHash, sessionAndUserByHash},
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
	for _, stmt := range []*sql.Stmt{s.bySessionHash, s.bySessionID, s.byUser, s.userByID, s.userByEmail, s.sessionAndUserByHash} {
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

type scanner interface{ Scan(...any) error }

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
	return sessiond.WrapStoreError("sqlitestore", err)
}

var (
	_ sessiond.Store         = (*Store)(nil)
	_ sessiond.ChangeWatcher = (*Store)(nil)
)
