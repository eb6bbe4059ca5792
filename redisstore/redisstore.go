// Package redisstore is sessiond's Redis store (rueidis). Multi-key updates
// are Lua scripts, so each one is atomic, and every script touches keys of
// one hash tag only, so that it is legal on Redis Cluster. Session keys
// expire at the session's absolute deadline; counters and migration records
// have TTLs too. Every change is PUBLISHed for the other nodes' caches,
// naming the session, user or tenant by a keyed hash only (SEC-39).
//
// Key layout. By default every key carries one hash tag, {prefix}: on a
// Cluster, one deployment lives on one shard. With Shards > 1, sessions are
// spread over that many hash tags, {prefix/0} to {prefix/N-1}, chosen by
// user: a user's sessions, the user's and tenant's session sets and the
// deadline indexes of that part live under one tag, so the per-user cap
// and every per-user change stay one atomic script. A session is also
// found by its id and by its token hash, neither of which names the user:
// two small pointer keys, under the tags that the id and the hash choose,
// lead to the user's part. They are claimed with SET NX before the session
// is written (a duplicate id or token is a conflict, as everywhere) and
// expire with it; a pointer whose session is gone leads nowhere, since the
// session record is always checked. Users, events, devices, counters and
// migration records stay under {prefix}.
//
// Sessions need durability from Redis: run it with appendonly yes and
// maxmemory-policy noeviction (Check reports both).
package redisstore

import (
	"context"
	"fmt"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// Options configure a Store.
type Options struct {
	// Prefix namespaces every key; default: the URL's "prefix" query
	// parameter, or "sessiond". The keys are "{Prefix}:…".
	Prefix string
	// Shards is how many hash tags the sessions are spread over (see the
	// package documentation); default: the URL's "shards" query parameter,
	// or 1. It is fixed when the store is first used: Open refuses another
	// value, which would lose every session.
	Shards int
}

// maxShards bounds Options.Shards: the Cluster has 16384 slots.
const maxShards = 16384

// Store is a sessiond.Store on Redis.
type Store struct {
	c        rueidis.Client
	p        string // "{prefix}:"
	prefix   string
	shards   uint32
	purgeAt  atomic.Uint32 // the part where the next purge starts
	events   string        // channel of changes
	sentinel bool          // the master is found through Sentinel and can change
	cluster  bool          // a Redis Cluster
	probes   probeState    // the feed's probes (feed.go)
	avoid    atomic.Value  // the Cluster node the last watch left, not to subscribe to again
	writer   recordWriter  // how new and rotated sessions are written
	feedKey  []byte        // conceals the ids on the channel ({prefix}:feedkey)
}

// Open connects to the Redis at url (redis://, rediss://; Sentinel and
// Cluster addresses as rueidis.ParseURL accepts them).
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	u, err := neturl.Parse(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	q := u.Query()
	if opts.Prefix == "" {
		opts.Prefix = q.Get("prefix")
	}
	if opts.Prefix == "" {
		opts.Prefix = "sessiond"
	}
	if !validPrefix(opts.Prefix) {
		// A "/" would let prefix "px" with shards and prefix "px/0" share
		// keys; a brace would break the hash tags that keep a shard on
		// one Cluster slot (#16.6).
		return nil, fmt.Errorf("redisstore: prefix %q: want 1 to 64 letters, digits, '_', '-' or '.'", opts.Prefix)
	}
	if opts.Shards == 0 && q.Get("shards") != "" {
		n, err := strconv.Atoi(q.Get("shards"))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("redisstore: shards=%q: want a whole number from 1 to %d", q.Get("shards"), maxShards)
		}
		opts.Shards = n
	}
	if opts.Shards == 0 {
		opts.Shards = 1
	}
	if opts.Shards < 1 || opts.Shards > maxShards {
		return nil, fmt.Errorf("redisstore: %d shards: want 1 to %d", opts.Shards, maxShards)
	}
	q.Del("prefix")
	q.Del("shards")
	u.RawQuery = q.Encode()
	o, err := rueidis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	o.DisableCache = true
	// With the server unreachable, rueidis would retry until the request's
	// deadline; sessiond answers 503 at once instead, and the client
	// retries.
	o.DisableRetry = true
	c, err := rueidis.NewClient(o)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s := &Store{c: c, p: "{" + opts.Prefix + "}:", prefix: opts.Prefix, shards: uint32(opts.Shards), sentinel: o.Sentinel.MasterSet != "", writer: format2Writer}
	s.events = s.p + "changes"
	if err := s.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.checkShards(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.checkEviction(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.loadFeedKey(ctx); err != nil {
		c.Close()
		return nil, err
	}
	info, err := c.Do(ctx, c.B().Info().Section("cluster").Build()).ToString()
	if err != nil {
		c.Close()
		return nil, translate(err)
	}
	s.cluster = strings.Contains(info, "cluster_enabled:1")
	s.probes.parts = 1
	if s.cluster {
		s.probes.parts = len(s.parts())
	}
	return s, nil
}

// validPrefix reports whether p may name a deployment's keys.
func validPrefix(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// checkEviction refuses a Redis that may evict keys (#16.4). Only
// noeviction is safe: the allkeys-* policies evict the user and tenant
// index sets (a revocation then answers {"revoked":0} and leaves sessions
// valid), the per-user cap's sets and the shard count; the volatile-*
// policies evict keys with a deadline, which are the throttle counters
// and the migration replay guard, so that throttling and the guard
// silently forget. A Redis whose settings cannot be read (CONFIG disabled,
// as some managed services do) is let through: Check warns about it.
func (s *Store) checkEviction(ctx context.Context) error {
	for addr, node := range s.c.Nodes() {
		cfg, err := node.Do(ctx, node.B().ConfigGet().Parameter("maxmemory-policy").Build()).AsStrMap()
		if err != nil {
			continue
		}
		if v, ok := cfg["maxmemory-policy"]; ok && v != "noeviction" {
			return fmt.Errorf("redisstore: Redis %s has maxmemory-policy %s, which can evict the keys that revocation, the session cap, throttling and the replay guard depend on (a revocation could silently do nothing); set maxmemory-policy noeviction", addr, v)
		}
	}
	return nil
}

// checkShards records the shard count on first use and refuses another
// one later: the sessions of a user would be looked for in the wrong part.
func (s *Store) checkShards(ctx context.Context) error {
	key, want := s.k("shards"), strconv.Itoa(int(s.shards))
	if err := s.c.Do(ctx, s.c.B().Set().Key(key).Value(want).Nx().Build()).Error(); err != nil && !rueidis.IsRedisNil(err) {
		return translate(err)
	}
	got, err := s.c.Do(ctx, s.c.B().Get().Key(key).Build()).ToString()
	if err != nil {
		return translate(err)
	}
	if got != want {
		return fmt.Errorf("redisstore: the keys under prefix %q were written with shards=%s, not %s: changing it would lose every session", s.prefix, got, want)
	}
	return nil
}

// Close closes the client.
func (s *Store) Close() error {
	if s.c != nil {
		s.c.Close()
	}
	return nil
}

// Check returns warnings about server settings that can lose sessions or
// revocations: no append-only file, an fsync policy that can drop the last
// second of writes in a crash, or an eviction policy other than noeviction.
// On a Cluster every master is asked.
func (s *Store) Check(ctx context.Context) []string {
	var warn []string
	for addr, node := range s.c.Nodes() {
		cfg, err := node.Do(ctx, node.B().ConfigGet().Parameter("appendonly").Parameter("appendfsync").Parameter("maxmemory-policy").Build()).AsStrMap()
		if err != nil {
			warn = append(warn, fmt.Sprintf("Redis %s: cannot read its settings (CONFIG GET: %v); check appendonly yes and maxmemory-policy noeviction by hand", addr, err))
			continue
		}
		if v := cfg["appendonly"]; v != "yes" {
			warn = append(warn, fmt.Sprintf("Redis %s: appendonly is %s: a restart loses every session and revocation since the last snapshot; set appendonly yes", addr, v))
		} else if v := cfg["appendfsync"]; v != "always" {
			warn = append(warn, fmt.Sprintf("Redis %s: appendfsync is %s: a crash of the server can lose the last second of logins and logouts (a logout lost is a session back); appendfsync always loses none", addr, v))
		}
	}
	slices.Sort(warn)
	return warn
}

func (s *Store) k(parts ...string) string { return s.p + strings.Join(parts, ":") }

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func fromMicros(v string) time.Time {
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.UnixMicro(n).UTC()
}

func scriptResult(n int64, err error) error {
	switch {
	case err != nil:
		return translate(err)
	case n == 0:
		return sessiond.ErrNotFound
	case n < 0:
		return sessiond.ErrConflict
	}
	return nil
}

// Ping implements sessiond.SessionStore.
func (s *Store) Ping(ctx context.Context) error {
	return translate(s.c.Do(ctx, s.c.B().Ping().Build()).Error())
}

// translate turns driver errors into sessiond's sentinels: a nil reply is
// ErrNotFound; anything else is a system error that names no driver type.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if rueidis.IsRedisNil(err) {
		return sessiond.ErrNotFound
	}
	return sessiond.WrapStoreError("redisstore", err)
}

var (
	_ sessiond.Store           = (*Store)(nil)
	_ sessiond.ChangeWatcher   = (*Store)(nil)
	_ sessiond.FeedProber      = (*Store)(nil)
	_ sessiond.ChangeConcealer = (*Store)(nil)
)
