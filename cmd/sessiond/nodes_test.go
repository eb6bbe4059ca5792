package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/pgtest"
	"github.com/sessiond/sessiond/internal/redistest"
	"github.com/sessiond/sessiond/internal/testenv"
)

// postgresStore returns a store URL in a schema of this test's own.
func postgresStore(t *testing.T) string {
	t.Helper()
	return pgtest.URL(pgtest.Schema(t, "sessiond_e2e_"))
}

// startNode is startServer for a store URL (a shared PostgreSQL schema).
func startNode(t *testing.T, store string, extra ...string) *proc {
	t.Helper()
	return startServer(t, "", append([]string{"--store", store}, extra...)...)
}

func TestTwoNodes_PostgreSQL_LoginOnOneLogoutOnTheOther(t *testing.T) {
	loginOnOneLogoutOnTheOther(t, postgresStore(t))
}

// loginOnOneLogoutOnTheOther runs two nodes on one store: a session made on
// A works on B, and a logout on B is a 401 on A, whose cache TTL (1h) would
// otherwise keep it.
func loginOnOneLogoutOnTheOther(t *testing.T, store string) {
	t.Helper()
	a := startNode(t, store, "--cache-ttl", "1h")
	b := startNode(t, store, "--cache-ttl", "1h")
	ca, cb := client{t, a.url}, client{t, b.url}
	token := ca.login("test@example.com", "password")
	if cb.status(token) != 200 || ca.status(token) != 200 {
		t.Fatal("a session made on node A does not work on both nodes")
	}
	res, _ := cb.do("DELETE", "/api/auth/session-v2", "", token)
	if res.StatusCode != 204 {
		t.Fatalf("logout on B: %d", res.StatusCode)
	}
	revoked := time.Now()
	for ca.status(token) != 401 {
		if time.Since(revoked) > 2*time.Second {
			t.Fatal("node A still accepts a session revoked on node B after 2s (its cache TTL is 1h)")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("revocation on B reached A's cache in %v", time.Since(revoked))
}

// TestTwoNodes_PostgreSQL_LostChannelFlushesTheCache_SEC21 kills node A's
// LISTEN connection, then deletes a session behind everyone's back (no
// NOTIFY): a node that lost its channel must not serve its cached copy.
func TestTwoNodes_PostgreSQL_LostChannelFlushesTheCache_SEC21(t *testing.T) {
	// The server's URL as the tests resolved it (SESSIOND_TEST_POSTGRES_URL
	// or the default server), never the variable itself: unset, pgx would
	// take libpq's defaults, another database of the same server.
	url, schema := pgtest.Schema(t, "sessiond_e2e_")
	a := startNode(t, pgtest.URL(url, schema), "--cache-ttl", "1h")
	ca := client{t, a.url}
	token := ca.login("test@example.com", "password")
	waitCached(t, ca, token)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var killed int
	err = conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN %' AND query LIKE '%' || $1 || '%'`, schema).Scan(&killed)
	if err != nil || killed == 0 {
		t.Fatalf("terminated %d listeners: %v", killed, err)
	}
	if _, err := conn.Exec(context.Background(), `DELETE FROM `+pgx.Identifier{schema, "sessions"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for ca.status(token) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("a session deleted while the node's channel was down is still served from its cache")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitCached waits until the node holds the session in its cache (its
// change feed is live then): its one cached session shows in /metrics.
func waitCached(t *testing.T, c client, token string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c.status(token) != 200 {
			t.Fatal("GET failed")
		}
		_, metrics := c.do("GET", "/metrics", "", "")
		if strings.Contains(metrics, "\nsessiond_cache_sessions 1\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the session never reached the node's cache")
		}
	}
}

func TestTwoNodes_Redis_LoginOnOneLogoutOnTheOther(t *testing.T) {
	loginOnOneLogoutOnTheOther(t, redistest.URL(redistest.Prefix(t)))
}

func TestTwoNodes_RedisCluster_LoginOnOneLogoutOnTheOther(t *testing.T) {
	loginOnOneLogoutOnTheOther(t, redistest.URL(redistest.ClusterPrefix(t)))
}

// TestTwoNodes_RedisClusterSharded_LoginOnOneLogoutOnTheOther: the same
// with the sessions spread over 16 hash tags (?shards=16).
func TestTwoNodes_RedisClusterSharded_LoginOnOneLogoutOnTheOther(t *testing.T) {
	loginOnOneLogoutOnTheOther(t, redistest.URL(redistest.ClusterPrefix(t))+"&shards=16")
}

// TestTwoNodes_Redis_LostChannelFlushesTheCache_SEC21 kills node A's
// subscription (CLIENT KILL, on a Redis of the test's own so that no other
// test's connection goes), then deletes the session behind everyone's back
// (no PUBLISH): a node that lost its channel must not serve its cached copy.
func TestTwoNodes_Redis_LostChannelFlushesTheCache_SEC21(t *testing.T) {
	redis := redistest.Own(t, "--appendonly", "yes")
	a := startNode(t, redis.URL, "--cache-ttl", "1h")
	ca := client{t, a.url}
	token := ca.login("test@example.com", "password")
	waitCached(t, ca, token)
	port := strconv.Itoa(redis.Port)
	cli := func(args ...string) string {
		out, err := exec.Command("redis-cli", append([]string{"-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if n := cli("client", "kill", "type", "pubsub"); n == "0" {
		t.Fatal("no subscription to kill")
	}
	keys := strings.Fields(cli("--scan", "--pattern", "{sessiond}:s:*"))
	if len(keys) != 1 {
		t.Fatalf("session keys: %v", keys)
	}
	cli("del", keys[0])
	deadline := time.Now().Add(2 * time.Second)
	for ca.status(token) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("a session deleted while the node's channel was down is still served from its cache")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ownStore is a store server of the test's own, on a free port: the
// shared services are never stopped.
type ownStore struct {
	url   string
	stop  func() // a clean shutdown
	kill  func() // a crash: SIGKILL, or PostgreSQL's immediate mode
	start func() // start it again, on the same data
}

// ownRedis starts a Redis of the test's own with an append-only file
// synced on every write, so that neither a restart nor a crash loses an
// acknowledged write.
func ownRedis(t *testing.T) *ownStore {
	t.Helper()
	r := redistest.Own(t, "--appendonly", "yes", "--appendfsync", "always")
	return &ownStore{url: r.URL, stop: r.Stop, kill: r.Kill, start: r.Start}
}

// TestStoreOutage_Redis_503ThenResumesWithoutRestart_SEC23 and its
// PostgreSQL twin run storeOutage on a store server of the test's own.
func TestStoreOutage_Redis_503ThenResumesWithoutRestart_SEC23(t *testing.T) {
	storeOutage(t, ownRedis(t))
}

// storeOutage stops the store under a running node: validation, login and
// logout answer 503 (logout still expires the cookie) and /readyz fails;
// when the store is back, the session made before the outage works again,
// the revocation made before it holds, and sessiond was never restarted.
func storeOutage(t *testing.T, store *ownStore) {
	p := startNode(t, store.url, "--cache-ttl", "1h")
	c := client{t, p.url}
	kept := c.login("test@example.com", "password")
	revoked := c.login("test@example.com", "password")
	if res, _ := c.do("DELETE", "/api/auth/session-v2", "", revoked); res.StatusCode != 204 {
		t.Fatalf("logout before the outage: %d", res.StatusCode)
	}
	if c.status(kept) != 200 {
		t.Fatal("GET before the outage failed")
	}
	store.stop()
	deadline := time.Now().Add(10 * time.Second)
	for c.status(kept) != 503 {
		if time.Now().After(deadline) {
			t.Fatal("no 503 within 10s of the store going down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	body, _ := json.Marshal(map[string]string{"email": "test@example.com", "password": "password"})
	if res, _ := c.do("POST", "/api/auth/session-v2", string(body), ""); res.StatusCode != 503 || len(res.Cookies()) != 0 {
		t.Fatalf("login with the store down: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	res, _ := c.do("DELETE", "/api/auth/session-v2", "", kept)
	if res.StatusCode != 503 || !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout with the store down: %d %q", res.StatusCode, res.Header.Get("Set-Cookie"))
	}
	if res, _ := c.do("GET", "/readyz", "", ""); res.StatusCode != 503 {
		t.Fatalf("readyz with the store down: %d", res.StatusCode)
	}
	store.start()
	deadline = time.Now().Add(15 * time.Second)
	for c.status(kept) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the session made before the outage did not work again within 15s of the store's return")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.status(revoked) != 401 {
		t.Fatal("a revocation made before the outage was lost")
	}
	if res, _ := c.do("GET", "/readyz", "", ""); res.StatusCode != 200 {
		t.Fatalf("readyz after the outage: %d", res.StatusCode)
	}
}

// ownPostgres initializes and starts a PostgreSQL of the test's own on a
// free port, as the postgres user (initdb refuses root), with fsync on.
func ownPostgres(t *testing.T) *ownStore {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	runuser, err := exec.LookPath("runuser")
	if len(bins) == 0 || err != nil {
		if os.Getenv("SESSIOND_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL server binaries or runuser missing and SESSIOND_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("PostgreSQL server binaries or runuser missing")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "sessiond-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	as := func(args ...string) {
		t.Helper()
		cmd := exec.Command(runuser, append([]string{"-u", "postgres", "--"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if err := exec.Command("chown", "postgres:postgres", dir).Run(); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	as(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
	port := testenv.FreePort(t)
	start := func() {
		as(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w",
			"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on", port, dir), "start")
	}
	stop := func() { as(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop") }
	kill := func() { as(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop") }
	start()
	t.Cleanup(func() {
		exec.Command(runuser, "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop").Run()
	})
	return &ownStore{url: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop: stop, kill: kill, start: start}
}

func TestStoreOutage_PostgreSQL_503ThenResumesWithoutRestart_SEC23(t *testing.T) {
	storeOutage(t, ownPostgres(t))
}

// TestStoreCrashUnderLoad_Redis_LosesNoCommittedSessionOrRevocation and its
// PostgreSQL twin crash the store while two nodes serve logins,
// validations and logouts, and start it again.
func TestStoreCrashUnderLoad_Redis_LosesNoCommittedSessionOrRevocation(t *testing.T) {
	storeCrashUnderLoad(t, ownRedis(t))
}

func TestStoreCrashUnderLoad_PostgreSQL_LosesNoCommittedSessionOrRevocation(t *testing.T) {
	storeCrashUnderLoad(t, ownPostgres(t))
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// storeCrashUnderLoad runs workers against two nodes (caches with a 1h TTL)
// while the store is killed and restarted. A login that answered 200 is a
// committed session and a logout that answered 204 a committed revocation:
// each must hold on both nodes during the load and after it. Answers other
// than the expected ones or 503 fail the test; a 503 leaves the outcome
// unknown, and such sessions are not checked.
func storeCrashUnderLoad(t *testing.T, store *ownStore) {
	// Every login is the same account from the same address, hundreds of
	// them: throttling is not what this test is about. (A login attempt is
	// reserved before the password check; one in flight when the store
	// dies may stay counted, and a few of those would otherwise throttle
	// the next logins: SEC-29.)
	noThrottle := []string{"--throttle-account-attempts", "100000", "--throttle-address-attempts", "100000"}
	a := startNode(t, store.url, append([]string{"--cache-ttl", "1h"}, noThrottle...)...)
	b := startNode(t, store.url, append([]string{"--cache-ttl", "1h"}, noThrottle...)...)
	nodes := [2]string{a.url, b.url}
	hc := &http.Client{Timeout: 10 * time.Second}
	// call returns the status and the new token; status 0 is a transport
	// error, whose text (with the time it took) takes the token's place.
	call := func(method, url, body, token string) (int, string) {
		req, _ := http.NewRequest(method, url+"/api/auth/session-v2", strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Cookie", "sid="+token)
		}
		start := time.Now()
		res, err := hc.Do(req)
		if err != nil {
			return 0, fmt.Sprintf("%s %s at %s: %v after %v", method, url, start.Format("15:04:05.000"), err, time.Since(start).Round(time.Millisecond))
		}
		defer res.Body.Close()
		io.Copy(io.Discard, res.Body)
		for _, c := range res.Cookies() {
			if c.Name == "sid" && c.MaxAge >= 0 {
				return res.StatusCode, c.Value
			}
		}
		return res.StatusCode, ""
	}
	login, _ := json.Marshal(map[string]string{"email": "test@example.com", "password": "password"})

	var (
		mu                 sync.Mutex
		kept, revoked      []string
		failures           []string
		loginsAfterRestart int
		unavailable        int
		restarted          = make(chan struct{})
		done               = make(chan struct{})
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				x, y := nodes[(w+i)%2], nodes[(w+i+1)%2]
				code, token := call("POST", x, string(login), "")
				if code != 200 || token == "" {
					if code != 503 {
						fail("login on %s: %d %s", x, code, token)
					}
					mu.Lock()
					unavailable++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				select {
				case <-restarted:
					mu.Lock()
					loginsAfterRestart++
					mu.Unlock()
				default:
				}
				if code, _ := call("GET", y, "", token); code != 200 && code != 503 {
					fail("a session that answered 200 at login got %d on the other node", code)
				}
				if i%2 == 0 {
					mu.Lock()
					kept = append(kept, token)
					mu.Unlock()
					continue
				}
				if code, _ := call("DELETE", x, "", token); code != 204 {
					if code != 503 {
						fail("logout: %d", code)
					}
					continue // the outcome is unknown
				}
				loggedOut := time.Now()
				mu.Lock()
				revoked = append(revoked, token)
				mu.Unlock()
				// The node that revoked: at once. The other: within the
				// propagation bound (the feed lease), whether or not
				// its feed survived the crash.
				if code, _ := call("GET", x, "", token); code != 401 && code != 503 {
					fail("worker %d: a session whose logout answered 204 on %s got %d on the same node", w, x, code)
				}
				for {
					start := time.Now()
					code, _ := call("GET", y, "", token)
					if code == 401 || code == 503 {
						break
					}
					if code != 200 || start.Sub(loggedOut) >= sessiond.DefaultFeedLease {
						fail("worker %d: a session whose logout answered 204 on %s at %s got %d on %s, asked %v after the 204 (bound %v); store restarted: %v",
							w, x, loggedOut.Format("15:04:05.000"), code, y, start.Sub(loggedOut).Round(time.Millisecond), sessiond.DefaultFeedLease, isClosed(restarted))
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	// Crash the store once some sessions and revocations are committed,
	// with requests in flight.
	waitFor := func(what string, ok func() bool) {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			met := ok()
			mu.Unlock()
			if met {
				return
			}
			if time.Now().After(deadline) {
				close(done)
				wg.Wait()
				t.Fatalf("no %s within 30s; failures: %s", what, strings.Join(failures, "; "))
			}
		}
	}
	var keptBefore, revokedBefore int
	waitFor("5 sessions and 5 revocations before the crash", func() bool {
		keptBefore, revokedBefore = len(kept), len(revoked)
		return keptBefore >= 5 && revokedBefore >= 5
	})
	store.kill()
	time.Sleep(time.Second)
	store.start()
	close(restarted)
	waitFor("10 logins after the restart", func() bool { return loginsAfterRestart >= 10 })
	close(done)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(kept) == 0 || len(revoked) == 0 || unavailable == 0 {
		t.Fatalf("the load did not span the crash: %d sessions kept, %d revoked, %d answers 503", len(kept), len(revoked), unavailable)
	}
	for _, n := range nodes {
		for _, token := range kept {
			if code, _ := call("GET", n, "", token); code != 200 {
				t.Errorf("a committed session got %d on %s after the crash", code, n)
			}
		}
		for _, token := range revoked {
			if code, _ := call("GET", n, "", token); code != 401 {
				t.Errorf("a committed revocation got %d on %s after the crash", code, n)
			}
		}
	}
	t.Logf("%d sessions kept and %d revoked (%d and %d before the crash); %d answers 503 while the store was down",
		len(kept), len(revoked), keptBefore, revokedBefore, unavailable)
}

// TestTwoNodes_RedisSentinel_FailoverKeepsSessionsAndRevocations runs two
// nodes through a Sentinel, fails the master over to its replica, and
// checks that sessions and revocations made before the failover hold, that
// no request meanwhile gets anything but 200, 401 or 503, and that logins
// and revocations work on the new master, reaching the other node's cache.
func TestTwoNodes_RedisSentinel_FailoverKeepsSessionsAndRevocations(t *testing.T) {
	set := redistest.StartSentinel(t, 1)
	a := startNode(t, set.URL, "--cache-ttl", "1h")
	b := startNode(t, set.URL, "--cache-ttl", "1h")
	ca, cb := client{t, a.url}, client{t, b.url}
	kept := ca.login("test@example.com", "password")
	revoked := ca.login("test@example.com", "password")
	if res, _ := cb.do("DELETE", "/api/auth/session-v2", "", revoked); res.StatusCode != 204 {
		t.Fatalf("logout on B: %d", res.StatusCode)
	}
	// Replication is asynchronous: fail over once the replica has it all,
	// as an operator's planned failover would.
	info := func(port int, field string) string {
		out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(port), "info", "replication").Output()
		for line := range strings.Lines(string(out)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
				return v
			}
		}
		return ""
	}
	for deadline := time.Now().Add(10 * time.Second); info(set.Master, "master_repl_offset") != info(set.Replicas[0], "slave_repl_offset"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not catch up")
		}
	}
	sentinelFailover(t, set)
	newMaster := strconv.Itoa(set.Replicas[0])
	seen := map[string]map[int]int{"kept": {}, "revoked": {}}
	check := func() {
		for _, c := range []client{ca, cb} {
			seen["kept"][c.status(kept)]++
			seen["revoked"][c.status(revoked)]++
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		check()
		out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(set.Sentinel), "sentinel", "get-master-addr-by-name", "sessiond").Output()
		// Done when the Sentinel names the new master and the old one
		// follows it: until then the old master may still take writes.
		if strings.Contains(string(out), newMaster) && info(set.Replicas[0], "role") == "master" &&
			info(set.Master, "role") == "slave" && info(set.Master, "master_port") == newMaster {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failover within 30s: %s", out)
		}
	}
	// Writes must reach the new master: a login on each node.
	var fresh []string
	for deadline := time.Now().Add(20 * time.Second); len(fresh) < 2; time.Sleep(50 * time.Millisecond) {
		check()
		c := []client{ca, cb}[len(fresh)]
		body, _ := json.Marshal(map[string]string{"email": "test@example.com", "password": "password"})
		res, _ := c.do("POST", "/api/auth/session-v2", string(body), "")
		switch res.StatusCode {
		case 200:
			for _, ck := range res.Cookies() {
				if ck.Name == "sid" {
					fresh = append(fresh, ck.Value)
				}
			}
		case 503:
		default:
			t.Fatalf("login during the failover: %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatal("no login succeeded within 20s of the failover")
		}
	}
	check()
	for k, v := range seen["kept"] {
		if k != 200 && k != 503 {
			t.Errorf("the session made before the failover got %d (%d times)", k, v)
		}
	}
	for k, v := range seen["revoked"] {
		if k != 401 && k != 503 {
			t.Errorf("the session revoked before the failover got %d (%d times)", k, v)
		}
	}
	if ca.status(kept) != 200 || cb.status(kept) != 200 {
		t.Fatal("the session made before the failover does not work after it")
	}
	// A revocation on the new master reaches the other node's cache.
	for i, token := range fresh {
		if a, b := ca.status(token), cb.status(token); a != 200 || b != 200 {
			t.Fatalf("the session made on node %c after the failover got %d on A and %d on B", "AB"[i], a, b)
		}
	}
	if res, _ := ca.do("DELETE", "/api/auth/session-v2", "", fresh[1]); res.StatusCode != 204 {
		t.Fatalf("logout after the failover: %d", res.StatusCode)
	}
	revokedAt := time.Now()
	for cb.status(fresh[1]) != 401 {
		if time.Since(revokedAt) > 2*time.Second {
			t.Fatal("a revocation after the failover did not reach the other node's cache within 2s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("answers during the failover: kept %v, revoked %v", seen["kept"], seen["revoked"])
}

// sentinelFailover asks the Sentinel of set to fail its master over, once
// the Sentinel has discovered the replica and sees it healthy: asked before,
// it answers NOGOODSLAVE. A NOGOODSLAVE or INPROG answer is asked again
// until a deadline, since the Sentinel refreshes what it knows of the
// replica only every few seconds.
func sentinelFailover(t *testing.T, set *redistest.SentinelSet) {
	t.Helper()
	sentinel := strconv.Itoa(set.Sentinel)
	replica := strconv.Itoa(set.Replicas[0])
	start := time.Now()
	var last string
	for deadline := start.Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("sentinel %s: no failover to the replica on port %s within 30s; last answer: %s", sentinel, replica, last)
		}
		// SENTINEL REPLICAS answers, per replica, a flat list of field and
		// value lines; the replica is ready when its flags are just "slave".
		out, err := exec.Command("redis-cli", "-p", sentinel, "sentinel", "replicas", "sessiond").Output()
		fields := strings.Fields(string(out))
		ready := false
		for i, port := 0, ""; i+1 < len(fields); i += 2 {
			switch fields[i] {
			case "name":
				port = ""
			case "port":
				port = fields[i+1]
			case "flags":
				ready = ready || port == replica && fields[i+1] == "slave"
			}
		}
		if err != nil || !ready {
			last = fmt.Sprintf("replica not yet seen healthy by the Sentinel (%v): %q", err, strings.Join(fields, " "))
			continue
		}
		out, err = exec.Command("redis-cli", "-p", sentinel, "sentinel", "failover", "sessiond").CombinedOutput()
		last = fmt.Sprintf("SENTINEL FAILOVER after %v: %v %s", time.Since(start).Round(time.Millisecond), err, out)
		if err == nil && strings.Contains(string(out), "OK") {
			return
		}
		if !strings.Contains(string(out), "NOGOODSLAVE") && !strings.Contains(string(out), "INPROG") {
			t.Fatal(last)
		}
	}
}

// TestTwoNodes_RedisClusterFailover_KeepsSessionsAndRevocations runs two
// caching nodes and one without a cache on a Cluster of the test's own (three masters, each with a
// replica; shards=16, so that the sessions of a dozen users live on every
// master) and fails every master over to its replica in turn, the planned
// way (CLUSTER FAILOVER: the replica catches up first). Sessions and
// revocations made before hold on both nodes, no request meanwhile gets
// anything but the right answer or 503, and afterwards sessions are made
// and revoked as before, the revocation reaching the other node's cache.
func TestTwoNodes_RedisClusterFailover_KeepsSessionsAndRevocations(t *testing.T) {
	set := redistest.StartCluster(t)
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	os.WriteFile(tokenFile, []byte("an-admin-token-that-is-long-enough"), 0o600)
	store := set.URL + "&shards=16"
	a := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	b := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	// A third node without a cache reads every answer from the Cluster.
	nc := client{t, startNode(t, store, "--cache-size", "0").url}
	admin := func(method, url, body string) (int, string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer an-admin-token-that-is-long-enough")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(out)
	}
	create := func(node, user string) (token, id string) {
		code, out := admin("POST", node+"/admin/v1/sessions", `{"user_id":"`+user+`"}`)
		var created struct {
			Token   string
			Session struct{ ID string }
		}
		if code != 201 && code != 200 || json.Unmarshal([]byte(out), &created) != nil || created.Token == "" {
			t.Fatalf("admin create: %d %s", code, out)
		}
		return created.Token, created.Session.ID
	}
	ca, cb := client{t, a.url}, client{t, b.url}
	var kept, revoked []string
	for i := range 12 {
		token, id := create(a.url, fmt.Sprintf("user-%d", i))
		if ca.status(token) != 200 || cb.status(token) != 200 {
			t.Fatal("a new session does not work on both nodes")
		}
		if i%2 == 0 {
			kept = append(kept, token)
			continue
		}
		if code, _ := admin("DELETE", b.url+"/admin/v1/sessions/"+id, ""); code != 204 {
			t.Fatalf("admin revoke: %d", code)
		}
		revoked = append(revoked, token)
	}
	bad, seen := map[string]int{}, map[int]int{}
	check := func() {
		for n, c := range []client{ca, cb, nc} {
			for _, token := range kept {
				s := c.status(token)
				seen[s]++
				if s != 200 && s != 503 {
					bad[fmt.Sprintf("kept session on node %d: %d at %s", n, s, time.Now().Format("15:04:05.000"))]++
				}
			}
			for _, token := range revoked {
				s := c.status(token)
				seen[s]++
				if s != 401 && s != 503 {
					bad[fmt.Sprintf("revoked session %s… on node %d: %d at %s", token[:6], n, s, time.Now().Format("15:04:05.000"))]++
				}
			}
		}
	}
	// Revocations reach the caching nodes within the published bound.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		done := true
		for _, c := range []client{ca, cb} {
			for _, token := range revoked {
				done = done && c.status(token) == 401
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("revocations did not reach both caches within 2s")
		}
	}
	check()
	role := func(port int) string {
		out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(port), "role").Output()
		return strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	}
	for i, replica := range set.Replicas {
		// A manual failover that gets no votes in time (5 s) is dropped by
		// Redis; an operator would ask again.
		promoted := false
		for attempt := 0; attempt < 3 && !promoted; attempt++ {
			if out, err := exec.Command("redis-cli", "-p", strconv.Itoa(replica), "cluster", "failover").CombinedOutput(); err != nil || !strings.Contains(string(out), "OK") {
				t.Fatalf("cluster failover of master %d: %v %s", set.Masters[i], err, out)
			}
			for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				check()
				if role(replica) == "master" {
					promoted = true
					break
				}
			}
		}
		if !promoted {
			t.Fatalf("master %d was not failed over to %d after 3 attempts", set.Masters[i], replica)
		}
		// Done when the old master follows the new one and has caught up,
		// as an operator waits before the next failover.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			check()
			out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(set.Masters[i]), "info", "replication").Output()
			info := string(out)
			if strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up") &&
				strings.Contains(info, fmt.Sprintf("master_port:%d", replica)) && strings.Contains(info, "master_sync_in_progress:0") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the old master %d does not follow %d within 20s:\n%s", set.Masters[i], replica, info)
			}
		}
		check()
	}
	// Both nodes follow the new masters: every kept session works (503s
	// while a node's client learns the new layout are allowed for a while).
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ok := true
		for _, c := range []client{ca, cb, nc} {
			for _, token := range kept {
				ok = ok && c.status(token) == 200
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			var got []string
			for i, c := range []client{ca, cb, nc} {
				for _, token := range kept {
					if s := c.status(token); s != 200 {
						res, body := c.do("GET", "/api/auth/session-v2", "", token)
						got = append(got, fmt.Sprintf("node %d: %d %s", i, res.StatusCode, body))
						// Where the session's keys are, node by node, to tell
						// a store that lost them from a client that looks in
						// the wrong place.
						h := sha256.Sum256([]byte(token))
						hx := hex.EncodeToString(h[:])
						for _, port := range append(slices.Clone(set.Masters), set.Replicas...) {
							keys, _ := exec.Command("redis-cli", "-p", strconv.Itoa(port), "--scan", "--pattern", "*"+hx+"*").Output()
							r := role(port)
							var vals []string
							for _, k := range strings.Fields(string(keys)) {
								val, _ := exec.Command("redis-cli", "-p", strconv.Itoa(port), "get", k).Output()
								vals = append(vals, k+"="+strings.TrimSpace(string(val)))
							}
							got = append(got, fmt.Sprintf("  port %d (%s): %v", port, r, vals))
						}
					}
				}
			}
			t.Fatalf("sessions made before the failovers do not all work within 15s of the last one: %v", got)
		}
	}
	check()
	for what, n := range bad {
		t.Errorf("%s (%d times)", what, n)
	}
	t.Logf("answers during the failovers: %v", seen)
	// New sessions and revocations, on the new masters.
	token, id := create(b.url, "user-after")
	if ca.status(token) != 200 {
		t.Fatal("a session made after the failovers does not work on the other node")
	}
	if code, _ := admin("DELETE", b.url+"/admin/v1/sessions/"+id, ""); code != 204 {
		t.Fatalf("admin revoke after the failovers: %d", code)
	}
	revokedAt := time.Now()
	for ca.status(token) != 401 {
		if time.Since(revokedAt) > 2*time.Second {
			t.Fatal("a revocation after the failovers did not reach the other node's cache within 2s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
