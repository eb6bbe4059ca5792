package sessiond_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a settable clock: expiry tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// probe wraps a store to count calls and inject faults.
type probe struct {
	sessiond.Store
	lookups, touches atomic.Int64
	fail             atomic.Bool
	hang             atomic.Bool
	block            chan struct{} // when set, lookups wait for it
}

var errBroken = errors.New("connection refused")

func (p *probe) fault(ctx context.Context) error {
	if p.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if p.fail.Load() {
		return errBroken
	}
	return nil
}

func (p *probe) SessionByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, error) {
	p.lookups.Add(1)
	if err := p.fault(ctx); err != nil {
		return nil, err
	}
	s, err := p.Store.SessionByTokenHash(ctx, h)
	if p.block != nil {
		<-p.block
	}
	return s, err
}

func (p *probe) TouchSessions(ctx context.Context, t []sessiond.Touch) error {
	p.touches.Add(1)
	if err := p.fault(ctx); err != nil {
		return err
	}
	return p.Store.TouchSessions(ctx, t)
}

func (p *probe) DeleteSession(ctx context.Context, id string) error {
	if err := p.fault(ctx); err != nil {
		return err
	}
	return p.Store.DeleteSession(ctx, id)
}

func openStore(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type fixture struct {
	m     *sessiond.Manager
	store *probe
	clock *clock
	path  string
}

func newFixture(t *testing.T, cfg sessiond.Config) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	f := &fixture{store: &probe{Store: openStore(t, path)}, clock: newClock(), path: path}
	cfg.Now = f.clock.Now
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Hour // tests flush by closing
	}
	if cfg.PurgeInterval == 0 {
		cfg.PurgeInterval = -1
	}
	f.m = sessiond.NewManager(f.store, cfg)
	t.Cleanup(func() { f.m.Close() })
	return f
}

func (f *fixture) create(t *testing.T) (string, *sessiond.Session) {
	t.Helper()
	token, s, err := f.m.Create(context.Background(), sessiond.SessionParams{UserID: "u1", TenantID: "t1", IPAddress: "192.0.2.1", UserAgent: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return token, s
}

func TestToken_Is36RandomBase64urlCharacters_SEC01(t *testing.T) {
	f := newFixture(t, sessiond.Config{})
	seen := map[string]bool{}
	for range 200 {
		token, s := f.create(t)
		if len(token) != 36 || !sessiond.ValidToken(token) {
			t.Fatalf("token %q: want 36 base64url characters", token)
		}
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) != 27 {
			t.Fatalf("token decodes to %d bytes (%v); want 27 (216 bits)", len(raw), err)
		}
		if seen[token] {
			t.Fatal("token repeated")
		}
		seen[token] = true
		if !sessiond.ValidID(s.ID) || s.ID == token {
			t.Fatalf("public id %q must be a UUID distinct from the token", s.ID)
		}
		if s.TokenHash != sessiond.HashToken(token) {
			t.Fatal("session is not keyed on the SHA-256 of its token")
		}
	}
}

func TestValidate_RejectsMalformedTokensBeforeTheStore_SEC02(t *testing.T) {
	f := newFixture(t, sessiond.Config{})
	bad := []string{
		"", "x", "short", "' OR 1=1 --", "../../../../etc/passwd",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   // 35
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // 37
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",  // padding
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/",  // std alphabet
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n",
		"\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAé",
	}
	for _, tok := range bad {
		if _, err := f.m.Validate(context.Background(), tok, sessiond.Client{}); !errors.Is(err, sessiond.ErrUnauthenticated) {
			t.Errorf("Validate(%q) = %v, want ErrUnauthenticated", tok, err)
		}
	}
	if n := f.store.lookups.Load(); n != 0 {
		t.Fatalf("malformed tokens caused %d store lookups, want 0", n)
	}
	// A well-formed token the server never issued is looked up, rejected,
	// and creates nothing.
	_, err := f.m.Validate(context.Background(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", sessiond.Client{})
	if !errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("never-issued token: %v, want ErrUnauthenticated", err)
	}
	if list, _ := f.m.List(context.Background(), ""); len(list) != 0 {
		t.Fatal("a session was created")
	}
}

func TestStore_NeverHoldsTheToken_SEC03(t *testing.T) {
	f := newFixture(t, sessiond.Config{})
	var tokens []string
	for range 20 {
		token, _ := f.create(t)
		tokens = append(tokens, token)
	}
	f.m.Close()
	for _, name := range []string{f.path, f.path + "-wal"} {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, tok := range tokens {
			if bytes.Contains(b, []byte(tok)) {
				t.Fatalf("%s contains a token", filepath.Base(name))
			}
		}
	}
}

func TestIdleTimeout_EndsInactiveSessionsOnTheServer_SEC08(t *testing.T) {
	f := newFixture(t, sessiond.Config{IdleTimeout: 2 * time.Hour, TouchInterval: time.Minute})
	ctx := context.Background()
	token, _ := f.create(t)
	for range 5 { // activity every 90 minutes keeps it alive past 2h
		f.clock.Advance(90 * time.Minute)
		if _, err := f.m.Validate(ctx, token, sessiond.Client{}); err != nil {
			t.Fatalf("active session rejected: %v", err)
		}
	}
	f.clock.Advance(2*time.Hour + time.Second)
	if _, err := f.m.Validate(ctx, token, sessiond.Client{}); !errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("after 2h idle: %v, want ErrUnauthenticated", err)
	}
}

func TestIdleTimeout_HoldsWithoutTheCache_SEC08(t *testing.T) {
	f := newFixture(t, sessiond.Config{IdleTimeout: 2 * time.Hour, CacheSize: -1})
	ctx := context.Background()
	token, _ := f.create(t)
	f.clock.Advance(90 * time.Minute)
	if _, err := f.m.Validate(ctx, token, sessiond.Client{}); err != nil {
		t.Fatal(err)
	}
	// The touch is still pending (not flushed): the pending activity
	// counts, so the session lives on.
	f.clock.Advance(90 * time.Minute)
	if _, err := f.m.Validate(ctx, token, sessiond.Client{}); err != nil {
		t.Fatalf("pending touch ignored: %v", err)
	}
	f.clock.Advance(2*time.Hour + time.Second)
	if _, err := f.m.Validate(ctx, token, sessiond.Client{}); !errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("after 2h idle: %v, want ErrUnauthenticated", err)
	}
}

func TestAbsoluteTimeout_NeverExtendedByActivityOrRotation_SEC09(t *testing.T) {
	f := newFixture(t, sessiond.Config{Lifetime: 24 * time.Hour})
	ctx := context.Background()
	token, s := f.create(t)
	deadline := s.ExpiresAt
	for range 47 { // activity every 30 minutes for 23.5 hours
		f.clock.Advance(30 * time.Minute)
		got, err := f.m.Validate(ctx, token, sessiond.Client{})
		if err != nil {
			t.Fatalf("active session rejected before its deadline: %v", err)
		}
		if !got.ExpiresAt.Equal(deadline) {
			t.Fatalf("activity moved the deadline to %v", got.ExpiresAt)
		}
	}
	cur, err := f.m.Validate(ctx, token, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	token, rotated, err := f.m.Reauthenticate(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	if !rotated.ExpiresAt.Equal(deadline) {
		t.Fatalf("rotation moved the deadline to %v, want %v", rotated.ExpiresAt, deadline)
	}
	f.clock.Advance(30 * time.Minute)
	if _, err := f.m.Validate(ctx, token, sessiond.Client{}); !errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("at 24h: %v, want ErrUnauthenticated", err)
	}
}

func TestTouch_IsBatchedOffTheRequestPath(t *testing.T) {
	f := newFixture(t, sessiond.Config{TouchInterval: time.Minute})
	ctx := context.Background()
	var tokens []string
	for range 10 {
		token, _ := f.create(t)
		tokens = append(tokens, token)
	}
	f.clock.Advance(5 * time.Minute)
	for range 100 {
		for _, tok := range tokens {
			if _, err := f.m.Validate(ctx, tok, sessiond.Client{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := f.store.touches.Load(); n != 0 {
		t.Fatalf("1000 requests made %d touch writes on the request path, want 0", n)
	}
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := f.store.touches.Load(); n != 1 {
		t.Fatalf("flush made %d touch writes, want 1 batch", n)
	}
	s, err := f.store.SessionByTokenHash(ctx, sessiond.HashToken(tokens[0]))
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now(); !s.LastActivity.Equal(want) {
		t.Fatalf("stored last activity %v, want %v", s.LastActivity, want)
	}
}

func TestLogout_RacingRequestsNeverResurrectTheSession_SEC10(t *testing.T) {
	f := newFixture(t, sessiond.Config{TouchInterval: time.Nanosecond})
	ctx := context.Background()
	for round := range 20 {
		token, s := f.create(t)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					f.clock.Advance(time.Millisecond)
					f.m.Validate(ctx, token, sessiond.Client{})
					f.m.UpdateData(ctx, s.ID, json.RawMessage(`{"n":1}`))
				}
			})
		}
		if _, err := f.m.Logout(ctx, token, sessiond.Client{}); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		if err := f.m.Close(); err != nil && round == 0 {
			t.Log(err)
		}
		if _, err := f.store.SessionByID(ctx, s.ID); !errors.Is(err, sessiond.ErrNotFound) {
			t.Fatalf("round %d: session back in the store after logout: %v", round, err)
		}
		if _, err := f.m.Validate(ctx, token, sessiond.Client{}); !errors.Is(err, sessiond.ErrUnauthenticated) {
			t.Fatalf("round %d: token valid after logout: %v", round, err)
		}
		f.m = sessiond.NewManager(f.store, sessiond.Config{Now: f.clock.Now, TouchInterval: time.Nanosecond, FlushInterval: time.Hour, PurgeInterval: -1})
	}
}

func TestStoreFailure_IsUnavailableNeverLoggedOutOrValid_SEC23(t *testing.T) {
	f := newFixture(t, sessiond.Config{CacheSize: -1})
	ctx := context.Background()
	token, s := f.create(t)

	f.store.fail.Store(true)
	if _, err := f.m.Validate(ctx, token, sessiond.Client{}); !errors.Is(err, sessiond.ErrUnavailable) {
		t.Fatalf("Validate with the store down: %v, want ErrUnavailable", err)
	}
	if _, err := f.m.Logout(ctx, token, sessiond.Client{}); !errors.Is(err, sessiond.ErrUnavailable) {
		t.Fatalf("Logout with the store down: %v, want ErrUnavailable", err)
	}
	if err := f.m.Revoke(ctx, s.ID); !errors.Is(err, sessiond.ErrUnavailable) {
		t.Fatalf("Revoke with the store down: %v, want ErrUnavailable", err)
	}

	f.store.fail.Store(false)
	f.store.hang.Store(true)
	hctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := f.m.Validate(hctx, token, sessiond.Client{}); !errors.Is(err, sessiond.ErrUnavailable) {
		t.Fatalf("Validate with a hanging store: %v, want ErrUnavailable", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Validate outlived its context")
	}
	f.store.hang.Store(false)
	if _, err := f.m.Validate(ctx, token, sessiond.Client{}); err != nil {
		t.Fatalf("after the store recovered: %v", err)
	}
}

func TestCache_ALookupRacingARevocationCannotCacheIt_SEC21(t *testing.T) {
	f := newFixture(t, sessiond.Config{})
	ctx := context.Background()
	token, s := f.create(t)
	f.store.block = make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := f.m.Validate(ctx, token, sessiond.Client{}) // reads the session, then waits
		done <- err
	}()
	for f.store.lookups.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := f.m.Revoke(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	close(f.store.block)
	<-done // it may succeed: it started before the revocation
	f.store.block = nil
	if _, err := f.m.Validate(ctx, token, sessiond.Client{}); !errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("revoked session served from the cache: %v", err)
	}
}

func TestCache_RevocationByAnotherProcessReachesIt_SEC21(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	a := sessiond.NewManager(openStore(t, path), sessiond.Config{CacheTTL: time.Hour, PurgeInterval: -1})
	defer a.Close()
	b := sessiond.NewManager(openStore(t, path), sessiond.Config{CacheSize: -1, PurgeInterval: -1})
	defer b.Close()
	ctx := context.Background()
	token, s, err := a.Create(ctx, sessiond.SessionParams{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until a's change feed is live and the session is cached.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := a.Validate(ctx, token, sessiond.Client{}); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("cache never warmed")
		}
		if a.CacheLen() > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Revoke(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		_, err := a.Validate(ctx, token, sessiond.Client{})
		if errors.Is(err, sessiond.ErrUnauthenticated) {
			t.Logf("revocation reached the other process's cache in %v", time.Since(revoked))
			return
		}
		if time.Since(revoked) > 5*time.Second {
			t.Fatalf("revoked session still served after 5s (cache TTL 1h): %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPurge_DeletesExpiredSessionsInBoundedBatches(t *testing.T) {
	f := newFixture(t, sessiond.Config{Lifetime: time.Hour, PurgeBatch: 100})
	ctx := context.Background()
	for range 250 {
		f.create(t)
	}
	f.clock.Advance(30 * time.Minute)
	liveToken, _ := f.create(t)
	f.clock.Advance(31 * time.Minute)
	n, err := f.m.Purge(ctx)
	if err != nil || n != 250 {
		t.Fatalf("Purge = %d, %v; want 250", n, err)
	}
	if _, err := f.m.Validate(ctx, liveToken, sessiond.Client{}); err != nil {
		t.Fatalf("live session purged: %v", err)
	}
}

func TestUpdateData_MergesAndHonoursTheVersion(t *testing.T) {
	f := newFixture(t, sessiond.Config{MaxDataSize: 64})
	ctx := context.Background()
	_, s := f.create(t)
	got, err := f.m.UpdateData(ctx, s.ID, json.RawMessage(`{"step":"profile","a":{"b":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err = f.m.UpdateDataAt(ctx, s.ID, json.RawMessage(`{"a":{"c":2},"step":null}`), got.Version)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != `{"a":{"b":1,"c":2}}` || got.Version != 2 {
		t.Fatalf("data %s version %d", got.Data, got.Version)
	}
	stale := int64(1)
	if _, err := f.m.UpdateDataAt(ctx, s.ID, json.RawMessage(`{"x":1}`), stale); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("stale version: %v, want ErrConflict", err)
	}
	if _, err := f.m.UpdateData(ctx, s.ID, json.RawMessage(`{"x":"`+string(bytes.Repeat([]byte("y"), 100))+`"}`)); !errors.Is(err, sessiond.ErrInvalidInput) {
		t.Fatalf("oversized data: %v, want ErrInvalidInput", err)
	}
	if _, err := f.m.UpdateData(ctx, s.ID, json.RawMessage(`[1]`)); !errors.Is(err, sessiond.ErrInvalidInput) {
		t.Fatalf("non-object patch: %v, want ErrInvalidInput", err)
	}
}

func TestCache_UnrelatedRevocationsDoNotKeepItFromFilling(t *testing.T) {
	f := newFixture(t, sessiond.Config{})
	ctx := context.Background()
	token, _ := f.create(t)
	_, other := f.create(t)
	f.store.block = make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := f.m.Validate(ctx, token, sessiond.Client{})
		done <- err
	}()
	for f.store.lookups.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// Another session ends while the lookup is in flight.
	if err := f.m.Revoke(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	close(f.store.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.store.block = nil
	if n := f.m.CacheLen(); n != 1 {
		t.Fatalf("cache holds %d sessions, want 1: an unrelated revocation kept it from filling", n)
	}
}

// silentFeed is a change feed that can die without its watcher noticing, as
// a pub/sub connection does when the store restarts: after kill, nothing
// more arrives (changes and probes alike), and WatchChanges does not return.
type silentFeed struct {
	sessiond.Store
	mu     sync.Mutex
	dead   bool
	events chan sessiond.Change
}

func (f *silentFeed) WatchChanges(ctx context.Context, connected func(), onChange func(sessiond.Change)) error {
	connected()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-f.events:
			onChange(c)
		}
	}
}

func (f *silentFeed) ProbeFeed(ctx context.Context, probe string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return nil // published on a store that the watcher no longer hears
	}
	select {
	case f.events <- sessiond.Change{Probe: probe}:
	case <-ctx.Done():
	}
	return nil
}

func (f *silentFeed) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = true
}

func TestCache_AFeedThatDiesSilentlyStopsCachedAnswersWithinTheLease_SEC21(t *testing.T) {
	const lease = 200 * time.Millisecond
	under := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	counted := &probe{Store: under}
	feed := &silentFeed{Store: counted, events: make(chan sessiond.Change)}
	m := sessiond.NewManager(feed, sessiond.Config{CacheTTL: time.Hour, FeedLease: lease, PurgeInterval: -1})
	defer m.Close()
	ctx := context.Background()
	token, s, err := m.Create(ctx, sessiond.SessionParams{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until answers come from the cache: a validation that reads no store.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		before := counted.lookups.Load()
		if _, err := m.Validate(ctx, token, sessiond.Client{}); err != nil {
			t.Fatal(err)
		}
		if counted.lookups.Load() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session was never answered from the cache")
		}
	}
	// The feed dies unnoticed, then another process revokes the session
	// (no change reaches this node).
	feed.kill()
	killed := time.Now()
	if err := under.DeleteSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	for {
		start := time.Now()
		_, err := m.Validate(ctx, token, sessiond.Client{})
		if errors.Is(err, sessiond.ErrUnauthenticated) {
			t.Logf("the revoked session stopped being served %v after the feed died (lease %v)", time.Since(killed).Round(time.Millisecond), lease)
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if start.Sub(killed) > lease {
			t.Fatalf("a validation asked %v after the feed died (lease %v, cache TTL 1h) was answered from the cache", start.Sub(killed).Round(time.Millisecond), lease)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Reauthenticate builds the new session from the store's record, not from
// the caller's copy (this node's cached one, possibly older): a data patch
// written since is kept, not rolled back with its version, and a token
// that a rotation already replaced cannot rotate its successor.
func TestReauthenticate_StartsFromTheStoresRecordNotTheCallersCopy(t *testing.T) {
	f := newFixture(t, sessiond.Config{})
	ctx := context.Background()
	token, _ := f.create(t)
	stale, err := f.m.Validate(ctx, token, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	patched, err := f.m.UpdateData(ctx, stale.ID, json.RawMessage(`{"step":"done"}`))
	if err != nil {
		t.Fatal(err)
	}
	if patched.Version == stale.Version {
		t.Fatalf("the patch did not move the version (%d)", patched.Version)
	}
	rotated, n, err := f.m.Reauthenticate(ctx, stale)
	if err != nil {
		t.Fatal(err)
	}
	if n.Version != patched.Version || string(n.Data) != `{"step":"done"}` {
		t.Fatalf("the rotated session holds version %d data %s; the store had version %d data %s", n.Version, n.Data, patched.Version, patched.Data)
	}
	if got, err := f.m.Validate(ctx, rotated, sessiond.Client{}); err != nil || got.Version != patched.Version || string(got.Data) != `{"step":"done"}` {
		t.Fatalf("after the rotation: %+v, %v", got, err)
	}
	if _, _, err := f.m.Reauthenticate(ctx, stale); !errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("a replaced token rotated its successor: %v, want ErrUnauthenticated", err)
	}
	if _, err := f.m.Validate(ctx, rotated, sessiond.Client{}); err != nil {
		t.Fatalf("the current token after the replaced one's attempt: %v", err)
	}
}

// A node whose cache still holds a token that a rotation on another node
// replaced (its feed not yet arrived) answers that token as dead when an
// anomaly sends it to the store: it never acts on the successor that now
// holds the session's id (here: revoking it).
func TestAnomaly_AReplacedTokenNeverActsOnItsSuccessor(t *testing.T) {
	f := newFixture(t, sessiond.Config{})
	ctx := context.Background()
	// A second node on the same store, with no change feed: its cache
	// keeps what it read.
	other := sessiond.NewManager(f.store, sessiond.Config{Now: f.clock.Now, PurgeInterval: -1, Anomaly: sessiond.AnomalyRevoke})
	t.Cleanup(func() { other.Close() })
	token, s := f.create(t)
	if _, err := other.Validate(ctx, token, sessiond.Client{IPAddress: "192.0.2.1", UserAgent: "test"}); err != nil {
		t.Fatal(err)
	}
	successor, _, err := f.m.Reauthenticate(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Validate(ctx, token, sessiond.Client{IPAddress: "198.51.100.7", UserAgent: "test"}); !errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("the replaced token from another network on the stale node: %v, want ErrUnauthenticated", err)
	}
	if got, err := f.m.Validate(ctx, successor, sessiond.Client{}); err != nil || len(got.Flags) != 0 {
		t.Fatalf("the successor after the replaced token's anomaly: %+v, %v; want it live and unflagged", got, err)
	}
}

// PatchData, the browser's own data patch, refuses a token that a rotation
// on another node replaced while this node's cache still answers it: the
// successor's data stays as it is. UpdateData by id (the admin's) is not
// tied to a token.
func TestPatchData_AReplacedTokenNeverPatchesItsSuccessor(t *testing.T) {
	f := newFixture(t, sessiond.Config{})
	ctx := context.Background()
	other := sessiond.NewManager(f.store, sessiond.Config{Now: f.clock.Now, PurgeInterval: -1}) // no change feed
	t.Cleanup(func() { other.Close() })
	token, s := f.create(t)
	if _, err := other.Validate(ctx, token, sessiond.Client{}); err != nil {
		t.Fatal(err)
	}
	successor, _, err := f.m.Reauthenticate(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := other.Validate(ctx, token, sessiond.Client{})
	if err != nil {
		t.Fatalf("precondition: the other node's cache still answers the replaced token: %v", err)
	}
	if _, err := other.PatchData(ctx, stale, json.RawMessage(`{"plan":"free"}`), nil); !errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("PatchData with the replaced token: %v, want ErrUnauthenticated", err)
	}
	if got, err := f.m.Validate(ctx, successor, sessiond.Client{}); err != nil || len(got.Data) != 0 || got.Version != 0 {
		t.Fatalf("the successor after the replaced token's patch: data %s version %d, %v; want it untouched", got.Data, got.Version, err)
	}
	own, _ := f.m.Validate(ctx, successor, sessiond.Client{})
	if got, err := f.m.PatchData(ctx, own, json.RawMessage(`{"plan":"pro"}`), nil); err != nil || string(got.Data) != `{"plan":"pro"}` {
		t.Fatalf("PatchData with the live token: %+v, %v", got, err)
	}
}
