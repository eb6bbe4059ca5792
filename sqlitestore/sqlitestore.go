// Package sqlitestore is sessiond's embedded store: one SQLite file (pure Go,
// modernc.org/sqlite), nothing else to install. It uses WAL with
// synchronous=FULL, so a committed revocation survives a power loss, and one
// writer connection beside a pool of readers, so writers queue in Go rather
// than spinning on SQLITE_BUSY. The writes queued together commit together
// (group commit: one transaction, one fsync, each write under its own
// savepoint), and the WAL is checkpointed in the background, so that no
// write waits for another's fsync or for a checkpoint.
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
	"sync"
	"sync/atomic"
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
	ck   *sql.DB // the checkpointer's connection
	opts Options

	queue            chan *writeReq // to the writer goroutine (commit.go)
	walGrew          chan struct{}  // to the checkpointer
	walLong          atomic.Bool    // from the checkpointer: the writer is to complete a checkpoint
	closing          chan struct{}
	closeOnce        sync.Once
	started          bool
	writerDone       chan struct{}
	checkpointerDone chan struct{}

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

	// The writer never checkpoints: checkpointLoop does, beside it.
	w, err := sql.Open("sqlite", dsn+"&_pragma=wal_autocheckpoint(0)")
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
	ck, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	s := &Store{w: w, r: r, ck: ck, opts: opts,
		queue: make(chan *writeReq), walGrew: make(chan struct{}, 1), closing: make(chan struct{}),
		writerDone: make(chan struct{}), checkpointerDone: make(chan struct{})}
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
	s.started = true
	go s.writeLoop()
	go s.checkpointLoop()
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

// Close stops the writer (writes queued or made from now on fail) and the
// checkpointer, and closes the connections. It is safe after a failed Open.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		if s.started {
			<-s.writerDone
			<-s.checkpointerDone
		}
	})
	var errs []error
	for _, stmt := range []*sql.Stmt{s.bySessionHash, s.bySessionID, s.byUser, s.userByID, s.userByEmail, s.sessionAndUserByHash} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(append(errs, closeDB(s.w), closeDB(s.r), closeDB(s.ck))...)
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
	return s.write(ctx, func(t wtx) error {
		_, err := t.exec(`INSERT INTO counters (key, count, last_at, expires_at) VALUES ('sessiond:ping', 0, ?1, ?1)
			ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at, expires_at = excluded.expires_at`, now)
		return err
	})
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
