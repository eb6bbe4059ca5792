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
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
)

// Options configure a Store. Zero fields take their defaults.
type Options struct {
	// Schema holds sessiond's tables; it is created if missing. Default:
	// the search_path parameter of the URL, or "sessiond".
	Schema string
	// StatementTimeout bounds every statement on the server. Default 5s.
	StatementTimeout time.Duration
	// MaxConns bounds the pool. Default: the URL's pool_max_conns, or
	// DefaultMaxConns.
	MaxConns int32
	// ConnectTimeout bounds each connection attempt, so that a server
	// that accepts connections and never answers is an error, not a hang.
	// Default 5s; the URL's connect_timeout wins.
	ConnectTimeout time.Duration
}

// DefaultMaxConns is the pool's size when neither Options.MaxConns nor the
// URL's pool_max_conns sets it. A validation that misses the node cache
// holds a connection for one round trip; with pgxpool's default (4 on two
// cores), concurrent validations wait for a connection in the pool, and
// each cost more CPU than the whole request of the peer (scs) did
// (#15, BENCHMARKS.md). Count it, per node, against the server's
// max_connections.
const DefaultMaxConns = 16

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
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
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

// Ping implements sessiond.SessionStore.
func (s *Store) Ping(ctx context.Context) error { return translate(s.pool.Ping(ctx)) }

func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return translate(pgx.BeginFunc(ctx, s.pool, fn))
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
	return sessiond.WrapStoreError("pgstore", err)
}

var (
	_ sessiond.Store           = (*Store)(nil)
	_ sessiond.ChangeWatcher   = (*Store)(nil)
	_ sessiond.FeedProber      = (*Store)(nil)
	_ sessiond.ChangeConcealer = (*Store)(nil)
)
