package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/pgtest"
	"github.com/sessiond/sessiond/internal/redistest"
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
	store := postgresStore(t)
	a := startNode(t, store, "--cache-ttl", "1h")
	ca := client{t, a.url}
	token := ca.login("test@example.com", "password")
	// Wait until the session is in A's cache (its feed is live).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ca.status(token) != 200 {
			t.Fatal("GET failed")
		}
		_, metrics := ca.do("GET", "/metrics", "", "")
		if strings.Contains(metrics, "\nsessiond_cache_sessions 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session never reached node A's cache")
		}
	}
	conn, err := pgx.Connect(context.Background(), os.Getenv("SESSIOND_TEST_POSTGRES_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	schema := store[strings.LastIndex(store, "=")+1:]
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

func TestTwoNodes_Redis_LoginOnOneLogoutOnTheOther(t *testing.T) {
	loginOnOneLogoutOnTheOther(t, redistest.URL(redistest.Prefix(t)))
}

// ownRedis starts a Redis of the test's own on a free port, with an
// append-only file so that a restart loses nothing, and returns its port and
// a function that starts it again after a shutdown.
func ownRedis(t *testing.T) (int, func()) {
	t.Helper()
	bin := needTool(t, "redis-server")
	dir := t.TempDir()
	port := freePort(t)
	start := func() {
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "yes", "--logfile", filepath.Join(dir, "log"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("redis-server: %v %s", err, out)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("redis-server did not start")
			}
		}
	}
	start()
	t.Cleanup(func() { exec.Command("redis-cli", "-p", strconv.Itoa(port), "shutdown", "nosave").Run() })
	return port, start
}

// TestStoreOutage_Redis_503ThenResumesWithoutRestart_SEC23 stops the store
// under a running node: validation, login and logout answer 503 (logout
// still expires the cookie), /readyz fails; when the store is back, the
// session made before the outage works again, with no restart of sessiond.
func TestStoreOutage_Redis_503ThenResumesWithoutRestart_SEC23(t *testing.T) {
	port, restart := ownRedis(t)
	p := startNode(t, fmt.Sprintf("redis://127.0.0.1:%d/0", port), "--cache-ttl", "1h")
	c := client{t, p.url}
	token := c.login("test@example.com", "password")
	if c.status(token) != 200 {
		t.Fatal("GET before the outage failed")
	}
	if err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "shutdown").Run(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.status(token) != 503 {
		if time.Now().After(deadline) {
			t.Fatal("no 503 within 5s of the store going down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	body, _ := json.Marshal(map[string]string{"email": "test@example.com", "password": "password"})
	res, _ := c.do("POST", "/api/auth/session-v2", string(body), "")
	if res.StatusCode != 503 || len(res.Cookies()) != 0 {
		t.Fatalf("login with the store down: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	res, _ = c.do("DELETE", "/api/auth/session-v2", "", token)
	if res.StatusCode != 503 || !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout with the store down: %d %q", res.StatusCode, res.Header.Get("Set-Cookie"))
	}
	if res, _ := c.do("GET", "/readyz", "", ""); res.StatusCode != 503 {
		t.Fatalf("readyz with the store down: %d", res.StatusCode)
	}
	restart()
	deadline = time.Now().Add(10 * time.Second)
	for c.status(token) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the session made before the outage did not work again within 10s of the store's return")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res, _ := c.do("GET", "/readyz", "", ""); res.StatusCode != 200 {
		t.Fatalf("readyz after the outage: %d", res.StatusCode)
	}
}

// ownPostgres initializes and starts a PostgreSQL of the test's own on a
// free port (as the postgres user: initdb refuses root) and returns its URL
// and functions that stop and start it.
func ownPostgres(t *testing.T) (string, func(), func()) {
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
	port := freePort(t)
	start := func() {
		as(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w",
			"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on", port, dir), "start")
	}
	stop := func() { as(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop") }
	start()
	t.Cleanup(func() {
		exec.Command(runuser, "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop").Run()
	})
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop, start
}

// TestStoreOutage_PostgreSQL_503ThenResumesWithoutRestart_SEC23 stops the
// database under a running node and starts it again: 503s meanwhile, and
// afterwards the session made before the outage works, the revocation made
// before it holds, and sessiond was never restarted.
func TestStoreOutage_PostgreSQL_503ThenResumesWithoutRestart_SEC23(t *testing.T) {
	url, stop, start := ownPostgres(t)
	p := startNode(t, url, "--cache-ttl", "1h")
	c := client{t, p.url}
	kept := c.login("test@example.com", "password")
	revoked := c.login("test@example.com", "password")
	if res, _ := c.do("DELETE", "/api/auth/session-v2", "", revoked); res.StatusCode != 204 {
		t.Fatalf("logout before the outage: %d", res.StatusCode)
	}
	stop()
	deadline := time.Now().Add(10 * time.Second)
	for c.status(kept) != 503 {
		if time.Now().After(deadline) {
			t.Fatal("no 503 within 10s of the database going down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	body, _ := json.Marshal(map[string]string{"email": "test@example.com", "password": "password"})
	if res, _ := c.do("POST", "/api/auth/session-v2", string(body), ""); res.StatusCode != 503 || len(res.Cookies()) != 0 {
		t.Fatalf("login with the database down: %d %v", res.StatusCode, res.Cookies())
	}
	if res, _ := c.do("GET", "/readyz", "", ""); res.StatusCode != 503 {
		t.Fatalf("readyz with the database down: %d", res.StatusCode)
	}
	start()
	deadline = time.Now().Add(15 * time.Second)
	for c.status(kept) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the session made before the outage did not work again within 15s of the database's return")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.status(revoked) != 401 {
		t.Fatal("a revocation made before the outage was lost")
	}
}
