package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/pgtest"
	"github.com/sessiond/sessiond/internal/redistest"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
)

// openNodeStore opens the nodes' store from the test, to seed it directly.
func openNodeStore(t *testing.T, store string) sessiond.SessionStore {
	t.Helper()
	ctx := context.Background()
	var st interface {
		sessiond.SessionStore
		Close() error
	}
	var err error
	if strings.HasPrefix(store, "redis") {
		st, err = redisstore.Open(ctx, store, redisstore.Options{})
	} else {
		st, err = pgstore.Open(ctx, store, pgstore.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seed creates n sessions of tenant through the store, 32 at a time; idle
// ones last saw activity 3 hours ago (past the 2h idle timeout: the
// purge's work).
func seed(t *testing.T, st sessiond.SessionStore, tenant string, n int, idle bool) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	last := now
	if idle {
		last = now.Add(-3 * time.Hour)
	}
	work := make(chan int)
	var failed sync.Once
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				id, _ := sessiond.NewID(rand.Reader)
				var h sessiond.TokenHash
				rand.Read(h[:])
				err := st.CreateSession(context.Background(), &sessiond.Session{ID: id, TokenHash: h,
					UserID: fmt.Sprintf("%s-user-%d", tenant, i/4), TenantID: tenant, CreatedAt: last, LastActivity: last,
					ExpiresAt: now.Add(20 * time.Hour), AuthenticatedAt: last})
				if err != nil {
					failed.Do(func() { t.Errorf("seeding tenant %s: %v", tenant, err) })
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// adminSession creates a session through the admin API and returns its
// token and public id.
func (c client) adminSession(user, tenant string) (token, id string) {
	c.t.Helper()
	code, body := c.adminDo("POST", "/admin/v1/sessions", fmt.Sprintf(`{"user_id":%q,"tenant_id":%q}`, user, tenant))
	var out struct {
		Token   string
		Session struct{ ID string }
	}
	json.Unmarshal([]byte(body), &out)
	if code != 201 && code != 200 || out.Token == "" {
		c.t.Fatalf("POST /admin/v1/sessions on %s: %d %s", c.url, code, body)
	}
	return out.Token, out.Session.ID
}

func TestTwoNodes_Redis_SingleRevocationsPropagateDuringABurst_SEC35(t *testing.T) {
	singleRevocationsDuringABurst(t, redistest.URL(redistest.Prefix(t)))
}

func TestTwoNodes_PostgreSQL_SingleRevocationsPropagateDuringABurst_SEC35(t *testing.T) {
	singleRevocationsDuringABurst(t, postgresStore(t))
}

// singleRevocationsDuringABurst revokes one session after another on node
// B, each cached on node A, while B revokes a tenant of 20,000 sessions and
// "sessiond purge" deletes 10,000 idle ones. Every single revocation must
// reach A's cache within the feed lease (1s; normally well under 1ms):
// before #16.2, the burst's tombstones stalled A's cache for seconds.
func singleRevocationsDuringABurst(t *testing.T, store string) {
	tokenFile := adminTokenFile(t)
	a := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	b := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	ca, cb := client{t, a.url}, client{t, b.url}
	st := openNodeStore(t, store)
	const big, idle = 20_000, 10_000
	t0 := time.Now()
	seed(t, st, "big", big, false)
	seed(t, st, "idle", idle, true)
	t.Logf("seeded %d sessions through the store in %v", big+idle, time.Since(t0).Round(time.Millisecond))
	// Two of the big tenant's sessions are cached on A: the tenant's
	// revocation must end them there too.
	var bigTokens []string
	for i := range 2 {
		tok, _ := ca.adminSession(fmt.Sprintf("big-cached-%d", i), "big")
		waitStatus(t, ca, tok, 200)
		bigTokens = append(bigTokens, tok)
	}

	var burst sync.WaitGroup
	burstDone := make(chan struct{})
	var tenantAnswer string
	var tenantTook time.Duration
	// The burst's goroutines use no t.Fatal (only the test's own may);
	// the test waits for them whatever happens.
	burst.Go(func() {
		t0 := time.Now()
		req, _ := http.NewRequest("DELETE", cb.url+"/admin/v1/tenants/big/sessions", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		res, err := http.DefaultClient.Do(req)
		tenantTook = time.Since(t0)
		if err != nil {
			tenantAnswer = err.Error()
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		tenantAnswer = fmt.Sprintf("%d %s", res.StatusCode, strings.TrimSpace(string(body)))
	})
	var purgeOut string
	var purgeErr error
	burst.Go(func() {
		var stderr bytes.Buffer
		purgeErr = run(context.Background(), []string{"purge", "--store", store, "--log-level", "error"}, getenvFrom(nil), strings.NewReader(""), &stderr, &stderr)
		purgeOut = stderr.String()
	})
	go func() { burst.Wait(); close(burstDone) }()
	defer func() { <-burstDone }()

	var took []time.Duration
	for i := 0; ; i++ {
		select {
		case <-burstDone:
		default:
			tok, id := ca.adminSession(fmt.Sprintf("single-%d", i), "small")
			if ca.status(tok) != 200 {
				t.Fatalf("single revocation %d: the new session is not valid on node A", i)
			}
			if code, body := cb.adminDo("DELETE", "/admin/v1/sessions/"+id, ""); code != 200 && code != 204 {
				t.Fatalf("DELETE /admin/v1/sessions/%s on node B: %d %s", id, code, body)
			}
			start := time.Now()
			for ca.status(tok) != 401 {
				if time.Since(start) > 10*time.Second {
					t.Fatalf("single revocation %d on node B had not reached node A after 10s, during the burst", i)
				}
			}
			took = append(took, time.Since(start))
			continue
		}
		break
	}
	if purgeErr != nil {
		t.Fatalf("sessiond purge: %v\n%s", purgeErr, purgeOut)
	}
	if want := fmt.Sprintf(`200 {"revoked":%d}`, big+2); tenantAnswer != want {
		t.Fatalf("DELETE /admin/v1/tenants/big/sessions on node B answered %q after %v; want %q", tenantAnswer, tenantTook, want)
	}
	for _, tok := range bigTokens {
		if code := ca.status(tok); code != 401 {
			t.Errorf("a session of the revoked tenant, cached on node A, answers %d there", code)
		}
	}
	slices.Sort(took)
	t.Logf("tenant of %d revoked in %v; purge: %s; %d single revocations meanwhile, propagation to node A p50 %v, max %v",
		big+2, tenantTook.Round(time.Millisecond), strings.TrimSpace(purgeOut), len(took), took[len(took)/2], took[len(took)-1])
	if len(took) == 0 {
		t.Fatal("no single revocation ran during the burst")
	}
	if worst := took[len(took)-1]; worst > time.Second {
		t.Errorf("a single revocation took %v to reach node A during the burst (bound: the feed lease, 1s; p50 %v)", worst, took[len(took)/2])
	}
}

// heapInUse is the test process's live heap after a collection: both nodes
// run in it.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func junk(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func TestTwoNodes_Redis_JunkOnTheFeedLeavesMemoryBounded_SEC36(t *testing.T) {
	url, prefix := redistest.Prefix(t)
	junkOnTheFeed(t, redistest.URL(url, prefix), func(t *testing.T) {
		o, _ := rueidis.ParseURL(url)
		c, err := rueidis.NewClient(o)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ch := "{" + prefix + "}:changes"
		ctx := context.Background()
		for range 50 { // 50 MiB of oversized messages
			if err := c.Do(ctx, c.B().Publish().Channel(ch).Message("s:"+junk(1<<20)).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		for range 20 { // 100,000 well-formed ones that name nothing
			cmds := make(rueidis.Commands, 5000)
			for i := range cmds {
				cmds[i] = c.B().Publish().Channel(ch).Message("s:" + junk(250)).Build()
			}
			for _, r := range c.DoMulti(ctx, cmds...) {
				if err := r.Error(); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func TestTwoNodes_PostgreSQL_JunkOnTheFeedLeavesMemoryBounded_SEC36(t *testing.T) {
	url, schema := pgtest.Schema(t, "sessiond_e2e_")
	junkOnTheFeed(t, pgtest.URL(url, schema), func(t *testing.T) {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		// Any role that can connect may NOTIFY: 20,000 payloads of 7,000
		// bytes, then 100,000 short ones, in a few transactions.
		for _, q := range []string{
			`SELECT pg_notify($1, 's:' || repeat(md5(i::text || random()::text), 218)) FROM generate_series(1, 20000) i`,
			`SELECT pg_notify($1, 's:' || repeat(md5(i::text || random()::text), 7)) FROM generate_series(1, 100000) i`,
		} {
			if _, err := conn.Exec(context.Background(), q, "sessiond_"+schema); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// junkOnTheFeed floods the nodes' change channel as anyone who can reach
// it could (flood), then revokes a session cached on node A from node B:
// the revocation still arrives (after the junk, in channel order), and the
// heap of the process that runs both nodes, measured after a collection,
// has not grown by more than 64 MiB (the flood carries hundreds of MiB:
// before #16.3 each node kept every message as a tombstone).
func junkOnTheFeed(t *testing.T, store string, flood func(*testing.T)) {
	tokenFile := adminTokenFile(t)
	a := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	b := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	ca, cb := client{t, a.url}, client{t, b.url}
	tok, id := ca.adminSession("victim", "t")
	waitCached(t, ca, tok)
	before := heapInUse()
	t0 := time.Now()
	flood(t)
	flooded := time.Since(t0)
	if code, body := cb.adminDo("DELETE", "/admin/v1/sessions/"+id, ""); code != 200 && code != 204 {
		t.Fatalf("DELETE /admin/v1/sessions/%s on node B: %d %s", id, code, body)
	}
	start := time.Now()
	for ca.status(tok) != 401 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("a revocation on node B had not reached node A 30s after a flood of junk on the feed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	after := heapInUse()
	grew := int64(after) - int64(before)
	t.Logf("flood sent in %v; the revocation behind it reached node A %v later; heap %d MiB -> %d MiB",
		flooded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), before>>20, after>>20)
	if grew > 64<<20 {
		t.Errorf("the heap of the two nodes grew by %d MiB with junk from the feed (bound 64 MiB)", grew>>20)
	}
}

// TestTwoNodes_PostgreSQL_TheChannelNamesNoSessionUserOrTenant_SEC39
// LISTENs on the nodes' channel as any role that can connect may, while a
// session, a user's sessions and a tenant's sessions are revoked: every
// payload is a kind and 32 hex digits, none holds an id, and node A still
// drops each revoked session from its cache.
func TestTwoNodes_PostgreSQL_TheChannelNamesNoSessionUserOrTenant_SEC39(t *testing.T) {
	url, schema := pgtest.Schema(t, "sessiond_e2e_")
	store := pgtest.URL(url, schema)
	tokenFile := adminTokenFile(t)
	a := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	b := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	ca, cb := client{t, a.url}, client{t, b.url}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{"sessiond_" + schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	secrets := revokeThreeWays(t, ca, cb)
	var kinds []string
	// Probes keep coming every 250ms: listen for two seconds.
	heard := time.Now().Add(2 * time.Second)
	for time.Now().Before(heard) {
		wctx, cancel := context.WithDeadline(ctx, heard)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			break
		}
		kind, tag, _ := strings.Cut(n.Payload, ":")
		if kind == "p" {
			continue // the nodes' probes name nothing
		}
		for _, s := range secrets {
			if strings.Contains(n.Payload, s) {
				t.Fatalf("a LISTENer read %q on the channel: it names %q", n.Payload, s)
			}
		}
		if _, err := hex.DecodeString(tag); err != nil || len(tag) != 32 {
			t.Errorf("payload %q is not a kind and 32 hex digits", n.Payload)
		}
		kinds = append(kinds, kind)
	}
	for _, k := range []string{"s", "u", "t"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("no %q change heard on the channel (heard %v)", k, kinds)
		}
	}
}

// revokeThreeWays makes three sessions on node A (ca), revokes them on node
// B (cb) one each way (the session, the user's, the tenant's), waits until A
// refuses them, and returns the ids that a change channel must not name.
func revokeThreeWays(t *testing.T, ca, cb client) []string {
	t.Helper()
	one, oneID := ca.adminSession("user-one@example.com", "tenant-one")
	two, _ := ca.adminSession("user-two@example.com", "tenant-two")
	three, _ := ca.adminSession("user-three@example.com", "tenant-three")
	for _, tok := range []string{one, two, three} {
		waitStatus(t, ca, tok, 200)
	}
	for _, path := range []string{"/admin/v1/sessions/" + oneID, "/admin/v1/users/user-two@example.com/sessions",
		"/admin/v1/tenants/tenant-three/sessions"} {
		if code, body := cb.adminDo("DELETE", path, ""); code != 200 && code != 204 {
			t.Fatalf("DELETE %s on node B: %d %s", path, code, body)
		}
	}
	for _, tok := range []string{one, two, three} {
		waitStatus(t, ca, tok, 401)
	}
	return []string{oneID, "user-one", "user-two", "user-three", "tenant-one", "tenant-two", "tenant-three"}
}
