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
	return seedUsers(t, s, tenant, n, 3, exp)
}

// seedUsers is seedSessions with perUser sessions per user, of users named
// tenant-user-0, tenant-user-1….
func seedUsers(t *testing.T, s *redisstore.Store, tenant string, n, perUser int, exp time.Time) []string {
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
					UserID: tenant + "-user-" + strconv.Itoa(i/perUser), TenantID: tenant, CreatedAt: now, LastActivity: now,
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
// PING, with the bounds of whileRevoking: one script for the whole tenant
// blocked Redis for seconds. Afterwards every session of the tenant is
// gone, with its index entries, and none of another tenant's; the
// tenant's change was published twice (before the first batch and after
// the last), not once per session.
func TestTenantRevocation_NeverBlocksRedis_SEC38(t *testing.T) {
	// With shards the tenant's sessions are spread over the parts: fewer
	// of them check the same loop per part.
	for _, c := range []struct{ shards, sessions int }{{1, 50_000}, {4, 10_000}} {
		t.Run(strconv.Itoa(c.shards)+"shards", func(t *testing.T) { tenantRevocationNeverBlocks(t, c.shards, c.sessions) })
	}
}

func tenantRevocationNeverBlocks(t *testing.T, shards, big int) {
	// A Redis of the test's own: nothing but the revocation runs on it
	// (its statistics and slow log are the revocation's), and other test
	// runs' work on the shared server cannot delay the PINGs.
	url, prefix := redistest.Own(t).URL, "sessiond"
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
	whileRevoking(t, c, big, func() (int, error) { return s.DeleteTenantSessions(ctx, "big") })
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
	want := s.ConcealChange(sessiond.Change{TenantID: "big"}).String()
	if got := published(); len(got) != 4 || slices.ContainsFunc(got, func(m string) bool { return m != want }) {
		t.Errorf("published during two revocations of the tenant: %d messages %.8q; want the tenant's change (%s) four times (before and after each)", len(got), got, want)
	}
}

// whileRevoking runs revoke, which should delete n sessions, on a Redis
// of the test's own (c) while another client sends PING after PING, and
// fails the test when Redis was blocked. A revocation in one script for
// all n sessions (50,000: 2 to 10 s on this machine) fails each check; the
// bounds leave room for a loaded 2-core machine, where Redis itself is
// preempted for a few hundred milliseconds at times (seen: scripts of
// 1 to 2 ms of work timed at up to 430 ms by the slow log at a load of
// 14), and so is the test's own client (a PING answered after 1.3 s at a
// load of 16 while no command in Redis ran longer than 125 ms):
//
//   - the work was cut into scripts of at most 100 sessions: Redis ran at
//     least n/100 of them (its command statistics, reset just before);
//   - they ran 50 ms on average at most, by Redis's own clock;
//   - none ran, by Redis's slow log, and no PING waited longer than 1 s
//     plus twice the machine's noise: the slowest PING of two idle seconds
//     before, or the slowest PING sent meanwhile, in turn with those, to
//     another Redis of the test's own that nothing else uses (a script's
//     time in the slow log is its wall time, preemption included);
//   - PINGs kept coming.
func whileRevoking(t *testing.T, c rueidis.Client, n int, revoke func() (int, error)) {
	t.Helper()
	ctx := context.Background()
	control := rawClient(t, redistest.Own(t).URL)
	type pinged struct {
		worst, control time.Duration // the slowest PING to c, to control
		pings          int
	}
	// pingLoop sends PING after PING, to c then to control, until stop
	// closes.
	pingLoop := func(stop <-chan struct{}) (p pinged) {
		for {
			select {
			case <-stop:
				return p
			default:
			}
			for _, to := range []rueidis.Client{c, control} {
				t0 := time.Now()
				if err := to.Do(ctx, to.B().Ping().Build()).Error(); err != nil {
					t.Errorf("PING: %v", err)
					return p
				}
				if to == c {
					p.worst = max(p.worst, time.Since(t0))
					p.pings++
				} else {
					p.control = max(p.control, time.Since(t0))
				}
			}
		}
	}
	idle := make(chan struct{})
	time.AfterFunc(2*time.Second, func() { close(idle) })
	noise := pingLoop(idle).worst
	for _, cmd := range []rueidis.Completed{c.B().ConfigResetstat().Build(), c.B().SlowlogReset().Build()} {
		if err := c.Do(ctx, cmd).Error(); err != nil {
			t.Fatal(err)
		}
	}

	stop := make(chan struct{})
	done := make(chan pinged)
	go func() { done <- pingLoop(stop) }()
	start := time.Now()
	got, err := revoke()
	took := time.Since(start)
	close(stop)
	p := <-done
	if err != nil || got != n {
		t.Fatalf("the revocation deleted %d sessions, %v; want %d", got, err, n)
	}
	bound := time.Second + 2*max(noise, p.control)
	calls, usec := scriptStats(t, c)
	slowest := slowestScript(t, c)
	t.Logf("revoked %d sessions in %v: %d scripts of %.1f ms on average, the slowest %v; %d PINGs meanwhile, the slowest answered in %v (idle: %v; to the other Redis meanwhile: %v)",
		n, took.Round(time.Millisecond), calls, float64(usec)/float64(max(calls, 1))/1000, slowest, p.pings, p.worst, noise, p.control)
	if want := int64((n + 99) / 100); calls < want {
		t.Errorf("the revocation of %d sessions ran as %d scripts: want at least %d (100 sessions each at most)", n, calls, want)
	}
	if avg := time.Duration(usec/max(calls, 1)) * time.Microsecond; avg > 50*time.Millisecond {
		t.Errorf("the revocation's scripts ran %v on average inside Redis: want 50ms at most", avg)
	}
	if slowest > bound {
		t.Errorf("one script of the revocation ran %v inside Redis: blocked longer than %v", slowest, bound)
	}
	if p.worst > bound {
		t.Errorf("a PING waited %v during the revocation: Redis was blocked longer than %v (the slowest PING of two idle seconds took %v, to the other Redis meanwhile %v)", p.worst, bound, noise, p.control)
	}
	if p.pings < 10 {
		t.Errorf("only %d PINGs answered during a %v revocation", p.pings, took)
	}
}

// scriptStats returns how many scripts (EVAL and EVALSHA) Redis ran since
// its statistics were reset, and their total time in microseconds.
func scriptStats(t *testing.T, c rueidis.Client) (calls, usec int64) {
	t.Helper()
	info, err := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:")
		if !ok {
			rest, ok = strings.CutPrefix(strings.TrimSpace(line), "cmdstat_eval:")
		}
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				calls += n
			case "usec":
				usec += n
			}
		}
	}
	return calls, usec
}

// slowestScript returns the longest run of a script in Redis's slow log
// (every command longer than slowlog-log-slower-than, 10 ms by default).
func slowestScript(t *testing.T, c rueidis.Client) time.Duration {
	t.Helper()
	entries, err := c.Do(context.Background(), c.B().SlowlogGet().Count(-1).Build()).ToArray()
	if err != nil {
		t.Fatal(err)
	}
	var slowest time.Duration
	for _, e := range entries {
		f, err := e.ToArray()
		if err != nil || len(f) < 4 {
			continue
		}
		us, _ := f[2].AsInt64()
		args, _ := f[3].AsStrSlice()
		if len(args) > 0 && (strings.EqualFold(args[0], "evalsha") || strings.EqualFold(args[0], "eval")) {
			slowest = max(slowest, time.Duration(us)*time.Microsecond)
		}
	}
	return slowest
}

// TestUserRevocation_NeverBlocksRedis_SEC38 revokes all but one of the
// 50,000 sessions of one user (a user of the application's own, or one
// flooded by scripted logins) while another client sends PING after PING,
// with the bounds of whileRevoking. One script for all of a user's
// sessions blocked Redis for seconds. Afterwards every session of the user
// but the exception is gone, with its index entries, and none of another
// user's; the user's change was published twice (with the first batch and
// after the last), not once per session; a second revocation is a no-op.
func TestUserRevocation_NeverBlocksRedis_SEC38(t *testing.T) {
	url, prefix := redistest.Own(t).URL, "sessiond" // as the tenant's test
	ctx := context.Background()
	s, err := redisstore.Open(ctx, url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Half of them written as earlier versions did (a hash each, the set
	// u:<user>): one revocation takes both.
	const big = 50_000
	exp := time.Now().Add(time.Hour)
	start := time.Now()
	old, err := redisstore.Open(ctx, url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	redisstore.WriteFormat1(old)
	ids := append(seedUsers(t, old, "big", big/2, big, exp), seedUsers(t, s, "big", big/2, big, exp)...)
	otherIDs := seedSessions(t, s, "other", 30, exp)
	t.Logf("seeded %d sessions in %v", big+30, time.Since(start).Round(time.Millisecond))
	const user = "big-user-0"
	keep := ids[big-1]
	published := subscribe(t, url, prefix)

	c := rawClient(t, url)
	whileRevoking(t, c, big-1, func() (int, error) { return s.DeleteUserSessions(ctx, user, keep) })
	for _, id := range append(ids[:50], ids[big/2:big/2+50]...) {
		if _, err := s.SessionByID(ctx, id); err != sessiond.ErrNotFound {
			t.Fatalf("session %s of the revoked user: %v", id, err)
		}
	}
	for _, id := range append(otherIDs, keep) {
		if _, err := s.SessionByID(ctx, id); err != nil {
			t.Fatalf("session %s, not revoked: %v", id, err)
		}
	}
	if list, err := s.SessionsByUser(ctx, user); err != nil || len(list) != 1 || list[0].ID != keep {
		t.Fatalf("the user's sessions after the revocation: %d, %v; want only the exception", len(list), err)
	}
	if n, err := s.DeleteUserSessions(ctx, user, keep); err != nil || n != 0 {
		t.Errorf("revoking the user again = %d, %v; want 0 (idempotent)", n, err)
	}
	want := s.ConcealChange(sessiond.Change{UserID: user}).String()
	deadline := time.Now().Add(5 * time.Second)
	for len(published()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := published(); len(got) != 2 || slices.ContainsFunc(got, func(m string) bool { return m != want }) {
		t.Errorf("published during the revocation of the user and a second one: %d messages %.8q; want %q twice (with the first batch and after the last; nothing for the no-op)", len(got), got, want)
	}
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
