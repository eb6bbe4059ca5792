package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// inValidLoad counts the goroutines waiting in the Manager's shared read of
// a missed session (for a read they lead or joined): blocked in its select.
func inValidLoad() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			waiting := 0
			for _, g := range strings.Split(string(buf[:n]), "\n\n") {
				if strings.Contains(g, "[select") && strings.Contains(g, "sessiond.(*Manager).validLoad(") {
					waiting++
				}
			}
			return waiting
		}
		buf = make([]byte, 2*len(buf))
	}
}

// burst validates token from n goroutines at once while the store's reads
// are held (f.store.block), runs between() once ready() says every
// goroutine is where the test wants it, then lets the reads finish.
func burst(t *testing.T, f *fixture, token string, n int, ready func() bool, between func()) []error {
	t.Helper()
	f.store.block = make(chan struct{})
	defer func() { f.store.block = nil }()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = f.m.Validate(context.Background(), token, sessiond.Client{}) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			close(f.store.block)
			wg.Wait()
			t.Fatalf("the %d validations never all reached the store: %d store reads, %d in the shared read", n, f.store.lookups.Load(), inValidLoad())
		}
		time.Sleep(time.Millisecond)
	}
	between()
	close(f.store.block)
	wg.Wait()
	return errs
}

func TestCache_ConcurrentMissesShareOneStoreRead(t *testing.T) {
	for _, idle := range []time.Duration{0, 2 * time.Minute} {
		t.Run(fmt.Sprintf("idle %v", idle), func(t *testing.T) { concurrentMisses(t, idle) })
	}
}

// concurrentMisses is TestCache_ConcurrentMissesShareOneStoreRead for a
// session idle for that long: past the touch interval (1 minute), the
// request that led the read touches the session, and the cache then holds
// the touched copy, which the others must take as well.
func concurrentMisses(t *testing.T, idle time.Duration) {
	defer sessiond.SetShareFor(time.Minute)() // however slowly a loaded machine starts them
	const n = 16
	f := newFixture(t, sessiond.Config{})
	token, s := f.create(t)
	f.clock.Advance(idle)
	// A change drops the session from the cache: the next requests miss.
	if _, err := f.m.UpdateData(context.Background(), s.ID, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	f.store.lookups.Store(0)
	errs := burst(t, f, token, n, func() bool { return f.store.lookups.Load() == 1 && inValidLoad() == n }, func() {})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("validation %d of the burst: %v", i, err)
		}
	}
	if got := f.store.lookups.Load(); got != 1 {
		t.Fatalf("%d concurrent misses made %d store reads, want 1", n, got)
	}
	// The shared read was cached: the next request asks nothing.
	if _, err := f.m.Validate(context.Background(), token, sessiond.Client{}); err != nil || f.store.lookups.Load() != 1 {
		t.Fatalf("after the burst: %v, %d store reads", err, f.store.lookups.Load())
	}
}

// A revocation while the shared read is under way: the read may have
// missed it, so those who joined read again, and find the session gone.
func TestCache_ARevocationDuringASharedReadSendsTheJoinersBackToTheStore_SEC21(t *testing.T) {
	defer sessiond.SetShareFor(time.Minute)() // however slowly a loaded machine starts them
	const n = 8
	f := newFixture(t, sessiond.Config{})
	token, s := f.create(t)
	if _, err := f.m.UpdateData(context.Background(), s.ID, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	f.store.lookups.Store(0)
	errs := burst(t, f, token, n, func() bool { return f.store.lookups.Load() == 1 && inValidLoad() == n }, func() {
		if err := f.m.Revoke(context.Background(), s.ID); err != nil {
			t.Fatal(err)
		}
	})
	refused := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, sessiond.ErrUnauthenticated):
			refused++
		case err != nil:
			t.Fatalf("validation in the burst: %v", err)
		}
	}
	// The one that led the read started before the revocation and may be
	// answered with it; every other one read the store again.
	if refused < n-1 || f.store.lookups.Load() != n {
		t.Fatalf("%d of %d refused after %d store reads; want at least %d refused and %d reads", refused, n, f.store.lookups.Load(), n-1, n)
	}
}

// Without the cache, every request reads the store itself, at once: a read
// started before a request arrived may miss a revocation made before it,
// and none waits for another's (however long sharing would wait).
func TestValidate_WithoutTheCacheEveryRequestReadsTheStore(t *testing.T) {
	defer sessiond.SetShareFor(time.Minute)()
	const n = 8
	f := newFixture(t, sessiond.Config{CacheSize: -1})
	token, _ := f.create(t)
	f.store.lookups.Store(0)
	errs := burst(t, f, token, n, func() bool { return f.store.lookups.Load() == n }, func() {})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAnomaly_ConcurrentRequestsRecordEachChangeOnceAndKeepEveryFlag_SEC20(t *testing.T) {
	defer sessiond.SetShareFor(time.Minute)() // however slowly a loaded machine starts them
	for _, cacheSize := range []int{0, -1} {
		var anomalies atomic.Int64
		var mu sync.Mutex
		seen := map[string]int{}
		f := newFixture(t, sessiond.Config{CacheSize: cacheSize, OnEvent: func(e sessiond.Event) {
			if e.Type == sessiond.EventAnomaly {
				anomalies.Add(1)
				mu.Lock()
				seen[e.Detail["flag"]]++
				mu.Unlock()
			}
		}})
		token, s := f.create(t) // 192.0.2.1, agent "test"
		newBrowser := sessiond.Client{IPAddress: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"}
		newNetwork := sessiond.Client{IPAddress: "203.0.113.9", UserAgent: "test"}
		var wg sync.WaitGroup
		for i := range 32 {
			c := newBrowser
			if i%2 == 1 {
				c = newNetwork
			}
			wg.Go(func() {
				if _, err := f.m.Validate(context.Background(), token, c); err != nil {
					t.Errorf("cache size %d: %v", cacheSize, err)
				}
			})
		}
		wg.Wait()
		got, err := f.m.Lookup(context.Background(), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.HasFlag(sessiond.FlagAgentChanged) || !got.HasFlag(sessiond.FlagNetworkChanged) || len(got.Flags) != 2 {
			t.Errorf("cache size %d: stored flags %q, want both changes once", cacheSize, got.Flags)
		}
		if anomalies.Load() != 2 || seen[sessiond.FlagAgentChanged] != 1 || seen[sessiond.FlagNetworkChanged] != 1 {
			t.Errorf("cache size %d: anomaly events %v, want one per change", cacheSize, seen)
		}
	}
}

// joinable reads sessions and their users in one call (a joined store)
// and names changes as they are (a ChangeConcealer that conceals nothing),
// so that the test can hold the shared read after the cache took its
// answer: the second naming of a user, while armed, is putUser's.
type joinable struct {
	*joined
	armed   atomic.Bool
	named   atomic.Int64
	reached chan struct{}
	release chan struct{}
}

func (j *joinable) ConcealChange(c sessiond.Change) sessiond.Change {
	if c.UserID != "" && j.armed.Load() && j.named.Add(1) == 2 {
		j.reached <- struct{}{}
		<-j.release
	}
	return c
}

// A request that arrives after a revocation answered must not be given the
// answer of a read that started before it, even one the cache had taken
// before the revocation dropped it (found by review).
func TestCache_ARequestAfterARevocationNeverJoinsTheReadBeforeIt_SEC10(t *testing.T) {
	defer sessiond.SetShareFor(time.Minute)() // however slowly a loaded machine starts them
	f := newFixture(t, sessiond.Config{CacheSize: -1})
	j := &joinable{joined: &joined{probe: f.store}, reached: make(chan struct{}), release: make(chan struct{})}
	m := sessiond.NewManager(j, sessiond.Config{Now: f.clock.Now, PurgeInterval: -1, FlushInterval: time.Hour})
	defer m.Close()
	ctx := context.Background()
	u := &sessiond.User{ID: "u1", Email: "u1@example.com", EmailKey: "u1@example.com", CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now()}
	if err := j.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	token, s, err := m.Create(ctx, sessiond.SessionParams{UserID: "u1", TenantID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpdateData(ctx, s.ID, []byte(`{"a":1}`)); err != nil { // out of the cache
		t.Fatal(err)
	}
	j.armed.Store(true)
	lead := make(chan error, 1)
	go func() { _, err := m.Validate(ctx, token, sessiond.Client{}); lead <- err }()
	<-j.reached // the cache took the read's answer; the read is still open
	if err := m.Revoke(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	joined := make(chan error, 1)
	go func() { _, err := m.Validate(ctx, token, sessiond.Client{}); joined <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for inValidLoad() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the second request never reached the shared read")
		}
		time.Sleep(time.Millisecond)
	}
	close(j.release)
	<-lead // it started before the revocation: either answer is right
	if err := <-joined; !errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("a request made after the revocation answered got %v, want ErrUnauthenticated", err)
	}
}

// A read left hanging by a caller that went away is not shared with the
// requests that come once the store is back: they read it themselves.
func TestCache_ARequestAfterTheStoreRecoveredDoesNotWaitForAHungRead_SEC23(t *testing.T) {
	f := newFixture(t, sessiond.Config{StoreTimeout: 20 * time.Second})
	ctx := context.Background()
	token, s := f.create(t)
	if _, err := f.m.UpdateData(ctx, s.ID, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	f.store.hang.Store(true)
	gone, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := f.m.Validate(gone, token, sessiond.Client{}); err == nil || errors.Is(err, sessiond.ErrUnauthenticated) {
		t.Fatalf("a validation while the store hangs: %v, want unavailable", err)
	}
	f.store.hang.Store(false)
	done := make(chan error, 1)
	go func() { _, err := f.m.Validate(ctx, token, sessiond.Client{}); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after the store recovered: %v", err)
		}
	case <-time.After(10 * time.Second): // half the store timeout the hung read holds
		t.Fatal("a request after the store recovered waited for the hung read")
	}
}

// panics reads no session but panics, as a store with a bug would.
type panics struct{ *probe }

func (p panics) SessionByTokenHash(context.Context, sessiond.TokenHash) (*sessiond.Session, error) {
	panic("store bug")
}

// A panic in a shared read is the caller's to recover (the server answers
// 500), as it was before the read was shared, never a crash of the node.
func TestCache_APanicInASharedReadIsRaisedInTheCaller(t *testing.T) {
	for _, size := range []int{-1, 0} {
		f := newFixture(t, sessiond.Config{CacheSize: size})
		token, _ := f.create(t)
		m := sessiond.NewManager(panics{f.store}, sessiond.Config{CacheSize: size, PurgeInterval: -1, FlushInterval: time.Hour})
		got := func() (p any) {
			defer func() { p = recover() }()
			m.Validate(context.Background(), token, sessiond.Client{})
			return nil
		}()
		m.Close()
		if got != "store bug" {
			t.Fatalf("cache size %d: recovered %v, want the store's panic", size, got)
		}
	}
}
