package redisstore_test

import (
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redistest"
	"github.com/sessiond/sessiond/redisstore"
)

// seedSessions creates n sessions of tenant in parallel, three per user,
// expiring at exp, and returns their ids.
func seedSessions(t *testing.T, s *redisstore.Store, tenant string, n int, exp time.Time) []string {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ids := make([]string, n)
	work := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				id, _ := sessiond.NewID(rand.Reader)
				var h sessiond.TokenHash
				rand.Read(h[:])
				err := s.CreateSession(context.Background(), &sessiond.Session{ID: id, TokenHash: h,
					UserID: tenant + "-user-" + strconv.Itoa(i/3), TenantID: tenant, CreatedAt: now, LastActivity: now,
					ExpiresAt: exp, AuthenticatedAt: now})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
				ids[i] = id
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("seeding tenant %s: %v", tenant, err)
	default:
	}
	return ids
}

func rawClient(t *testing.T, url string) rueidis.Client {
	t.Helper()
	o, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rueidis.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// subscribe collects what is published on the store's change channel.
func subscribe(t *testing.T, url, prefix string) func() []string {
	t.Helper()
	c := rawClient(t, url)
	var mu sync.Mutex
	var got []string
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Receive(ctx, c.B().Subscribe().Channel("{"+prefix+"}:changes").Build(), func(m rueidis.PubSubMessage) {
		mu.Lock()
		got = append(got, m.Message)
		mu.Unlock()
	})
	// A probe of our own tells when the subscription is live.
	go func() {
		for {
			c.Do(ctx, c.B().Publish().Channel("{"+prefix+"}:changes").Message("p:ready").Build())
			mu.Lock()
			live := slices.Contains(got, "p:ready")
			mu.Unlock()
			if live || ctx.Err() != nil {
				close(ready)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	<-ready
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, m := range got {
			if m != "p:ready" {
				out = append(out, m)
			}
		}
		return out
	}
}

// TestTenantRevocation_NeverBlocksRedis_SEC38 revokes a tenant of 50,000
// sessions (10,000 over four parts) while another client sends PING after
// PING. The bound on blocking is 250 ms per script call as Redis's slow
// log times it, inside Redis (each call is 1 to 2 ms of work; the margin
// is for a loaded machine, see below); the PINGs, timed by a client, must
// keep coming within 500 ms plus the machine's noise. One script for the
// whole tenant blocked Redis for seconds. Afterwards
// every session of the tenant is gone, with its index entries, and none of
// another tenant's; the tenant's change was published twice (before the
// first batch and after the last), not once per session.
func TestTenantRevocation_NeverBlocksRedis_SEC38(t *testing.T) {
	// With shards the tenant's sessions are spread over the parts: fewer
	// of them check the same loop per part.
	for _, c := range []struct{ shards, sessions int }{{1, 50_000}, {4, 10_000}} {
		t.Run(strconv.Itoa(c.shards)+"shards", func(t *testing.T) { tenantRevocationNeverBlocks(t, c.shards, c.sessions) })
	}
}

func tenantRevocationNeverBlocks(t *testing.T, shards, big int) {
	url, prefix := redistest.Prefix(t)
	ctx := context.Background()
	s, err := redisstore.Open(ctx, url, redisstore.Options{Prefix: prefix, Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	start := time.Now()
	bigIDs := seedSessions(t, s, "big", big, exp)
	otherIDs := seedSessions(t, s, "other", 300, exp)
	t.Logf("seeded %d sessions in %v", big+300, time.Since(start).Round(time.Millisecond))
	published := subscribe(t, url, prefix)

	c := rawClient(t, url)
	// pingLoop sends PING after PING until stop closes and reports the
	// slowest answer and how many came.
	pingLoop := func(stop <-chan struct{}) (worst time.Duration, pings int) {
		for {
			select {
			case <-stop:
				return worst, pings
			default:
			}
			t0 := time.Now()
			if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
				t.Errorf("PING: %v", err)
				return worst, pings
			}
			worst = max(worst, time.Since(t0))
			pings++
		}
	}
	// The machine's own noise first: on a loaded machine a PING can wait
	// for the CPU with Redis idle (up to a few hundred ms on a 2-core
	// machine shared with other test runs). Seen from the client, the
	// bound is 500 ms plus twice that noise: far below what one script
	// for the whole tenant blocked (seconds); Redis's own slow log, below,
	// checks 100 ms without the client's noise.
	idle := make(chan struct{})
	time.AfterFunc(2*time.Second, func() { close(idle) })
	noise, _ := pingLoop(idle)
	bound := 500*time.Millisecond + 2*noise

	stop := make(chan struct{})
	type pinged struct {
		worst time.Duration
		pings int
	}
	done := make(chan pinged)
	go func() {
		w, n := pingLoop(stop)
		done <- pinged{w, n}
	}()
	t0 := time.Now().Add(-time.Second) // the slow log's clock is in seconds
	n, err := s.DeleteTenantSessions(ctx, "big")
	took := time.Since(t0)
	close(stop)
	p := <-done
	worst, pings := p.worst, p.pings
	if err != nil || n != big {
		t.Fatalf("DeleteTenantSessions(big) = %d, %v; want %d", n, err, big)
	}
	t.Logf("revoked %d sessions in %v; %d PINGs meanwhile, the slowest answered in %v (idle: %v)", n, took.Round(time.Millisecond), pings, worst, noise)
	if worst > bound {
		t.Errorf("a PING waited %v during the revocation: Redis was blocked longer than %v (the slowest PING of two idle seconds took %v)", worst, bound, noise)
	}
	// Redis's own account: the slow log records every command that ran
	// longer than slowlog-log-slower-than (10ms by default), timed inside
	// Redis, so the client's scheduling plays no part. One call deletes
	// 100 sessions, 1 to 2 ms of work; the bound is 250 ms because on a
	// loaded 2-core machine Redis itself is preempted (its slow log then
	// shows single DELs of 30 ms and these scripts up to 150 ms), and
	// still an order below the seconds of one script for the tenant.
	if slowest, ok := slowestScript(t, c, prefix, "big", t0); ok {
		t.Logf("the slowest revocation script in Redis's slow log ran %v", slowest)
		if slowest > 250*time.Millisecond {
			t.Errorf("one script of the revocation ran %v inside Redis: blocked longer than 250ms", slowest)
		}
	}
	if pings < 10 {
		t.Errorf("only %d PINGs answered during a %v revocation", pings, took)
	}
	for _, id := range bigIDs[:100] {
		if _, err := s.SessionByID(ctx, id); err != sessiond.ErrNotFound {
			t.Fatalf("session %s of the revoked tenant: %v", id, err)
		}
	}
	for _, id := range otherIDs {
		if _, err := s.SessionByID(ctx, id); err != nil {
			t.Fatalf("session %s of the other tenant: %v", id, err)
		}
	}
	// Index entries: the tenant's set and its users' indexes are empty
	// (no key: a set or sorted set emptied is deleted).
	last := strconv.Itoa((big - 1) / 3)
	for _, key := range []string{"t:big", "us:big-user-0", "us:big-user-" + last, "u:big-user-0", "u:big-user-" + last} {
		for i := range max(shards, 1) {
			bp := "{" + prefix + "}:"
			if shards > 1 {
				bp = "{" + prefix + "/" + strconv.Itoa(i) + "}:"
			}
			if n, err := c.Do(ctx, c.B().Exists().Key(bp+key).Build()).AsInt64(); err != nil || n != 0 {
				t.Errorf("%s%s is still there after the revocation (%v)", bp, key, err)
			}
		}
	}
	if n, err := s.DeleteTenantSessions(ctx, "big"); err != nil || n != 0 {
		t.Errorf("revoking the tenant again = %d, %v; want 0 (idempotent)", n, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(published()) < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := published(); len(got) != 4 || slices.ContainsFunc(got, func(m string) bool { return m != "t:big" }) {
		t.Errorf("published during two revocations of the tenant: %d messages %.8q; want t:big four times (before and after each)", len(got), got)
	}
}

// slowestScript returns the longest run, in Redis's slow log since since,
// of a script call whose arguments name the prefix and the tenant; ok is
// false when the server keeps no slow log this test can read.
func slowestScript(t *testing.T, c rueidis.Client, prefix, tenant string, since time.Time) (time.Duration, bool) {
	t.Helper()
	ctx := context.Background()
	cfg, err := c.Do(ctx, c.B().ConfigGet().Parameter("slowlog-log-slower-than").Build()).AsStrMap()
	if err != nil {
		t.Logf("no slow log check: CONFIG GET: %v", err)
		return 0, false
	}
	if us, err := strconv.Atoi(cfg["slowlog-log-slower-than"]); err != nil || us < 0 || us > 100_000 {
		t.Logf("no slow log check: slowlog-log-slower-than is %q", cfg["slowlog-log-slower-than"])
		return 0, false
	}
	entries, err := c.Do(ctx, c.B().SlowlogGet().Count(-1).Build()).ToArray()
	if err != nil {
		t.Logf("no slow log check: SLOWLOG GET: %v", err)
		return 0, false
	}
	var slowest time.Duration
	for _, e := range entries {
		f, err := e.ToArray()
		if err != nil || len(f) < 4 {
			continue
		}
		at, _ := f[1].AsInt64()
		us, _ := f[2].AsInt64()
		args, _ := f[3].AsStrSlice()
		if at < since.Unix() || len(args) == 0 || !strings.EqualFold(args[0], "evalsha") ||
			!slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "{"+prefix) }) || !slices.Contains(args, tenant) {
			continue
		}
		slowest = max(slowest, time.Duration(us)*time.Microsecond)
	}
	return slowest, true
}

// TestPurge_PublishesNothingAndRunsOnOneNodeAtATime_SEC35: the purge of
// expired sessions publishes no message (every node checks deadlines
// itself), deleting an id already gone publishes nothing, and a node
// that does not hold the purge lock deletes nothing.
func TestPurge_PublishesNothingAndRunsOnOneNodeAtATime_SEC35(t *testing.T) {
	url, prefix := redistest.Prefix(t)
	ctx := context.Background()
	s, err := redisstore.Open(ctx, url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := seedSessions(t, s, "t", 1200, time.Now().Add(time.Hour))
	published := subscribe(t, url, prefix)
	c := rawClient(t, url)
	lock := "{" + prefix + "}:purge"
	if err := c.Do(ctx, c.B().Set().Key(lock).Value("another-node").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Hour)
	if n, err := s.DeleteExpiredSessions(ctx, later, later.Add(-time.Minute), 500); err != nil || n != 0 {
		t.Fatalf("purge while another node holds the lock = %d, %v; want 0", n, err)
	}
	if err := c.Do(ctx, c.B().Del().Key(lock).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for {
		n, err := s.DeleteExpiredSessions(ctx, later, later.Add(-time.Minute), 500)
		if err != nil {
			t.Fatal(err)
		}
		if total += n; n < 500 {
			break
		}
	}
	if total != len(ids) {
		t.Fatalf("purged %d of %d expired sessions", total, len(ids))
	}
	if n, _ := c.Do(ctx, c.B().Exists().Key(lock).Build()).AsInt64(); n != 0 {
		t.Error("the purge lock outlived the purge")
	}
	if err := s.DeleteSession(ctx, ids[0]); err != sessiond.ErrNotFound {
		t.Fatalf("deleting a purged session: %v", err)
	}
	// A message published now arrives after anything the purge sent.
	c.Do(ctx, c.B().Publish().Channel("{"+prefix+"}:changes").Message("t:marker").Build())
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(published(), "t:marker") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := published(); !slices.Equal(got, []string{"t:marker"}) {
		t.Errorf("the purge of %d sessions and a delete of a gone one published %d messages: %.5q", total, len(got)-1, got)
	}
}
