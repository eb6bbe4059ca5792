package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sqlitetest"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestServe_APortInUseStopsTheStartBeforeTheStoreIsCreated: sessiond
// listens first, so a failed listen leaves no database behind (#9.18).
func TestServe_APortInUseStopsTheStartBeforeTheStoreIsCreated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	db := filepath.Join(t.TempDir(), "s.db")
	err = run(context.Background(), []string{"serve", "--listen", ln.Addr().String(), "--store", "sqlite:" + db},
		getenvFrom(nil), strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("serve on a port in use: %v, want an error naming --listen", err)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the database was created although the start failed: %v", err)
	}
}

// makeReadOnly makes a file unwritable, also for root (chattr +i), and
// undoes it when the test ends.
func makeReadOnly(t *testing.T, path string) {
	t.Helper()
	if os.Getuid() != 0 {
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		return
	}
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		t.Skip("root, and no chattr to make a file read-only")
	}
	if out, err := exec.Command(chattr, "+i", path).CombinedOutput(); err != nil {
		t.Skipf("chattr +i is not supported here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(chattr, "-i", path).Run() })
}

// TestServe_AReadOnlyDatabaseFailsAtStart (SEC-32): a file that can be read
// but not written would fail every login; the start refuses it, saying so.
func TestServe_AReadOnlyDatabaseFailsAtStart_SEC32(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	if _, _, err := cli(t, "", "purge", "--store", "sqlite:"+db); err != nil {
		t.Fatal(err) // creates and migrates the file
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(db + suffix)
	}
	makeReadOnly(t, db)
	err := run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + db},
		getenvFrom(nil), strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "cannot be written") {
		t.Fatalf("serve on a read-only database: %v, want a refusal saying it cannot be written", err)
	}
}

// TestReadyz_NotReadyWhileTheDatabaseCannotTakeAWrite_SEC32: another
// process holds SQLite's write lock; reads still work, readiness does not.
func TestReadyz_NotReadyWhileTheDatabaseCannotTakeAWrite_SEC32(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	p := startServer(t, db)
	c := client{t, p.url}
	if res, _ := c.do("GET", "/readyz", "", ""); res.StatusCode != 200 {
		t.Fatalf("readyz before: %d", res.StatusCode)
	}
	token := c.login("test@example.com", "password")
	release := sqlitetest.HoldWriteLock(t, db)
	start := time.Now()
	res, body := c.do("GET", "/readyz", "", "")
	if res.StatusCode != 503 {
		t.Fatalf("readyz while another process holds the write lock for %v: %d %s, want 503", time.Since(start), res.StatusCode, body)
	}
	if c.status(token) != 200 {
		t.Fatal("reads stopped working too")
	}
	release()
	if res, _ := c.do("GET", "/readyz", "", ""); res.StatusCode != 200 {
		t.Fatalf("readyz after the lock was released: %d", res.StatusCode)
	}
}

// TestServe_AStalledClientDoesNotHoldTheShutdown: a client that stopped
// halfway through sending its request holds no committed work; the drain
// closes its connection instead of waiting for its read timeout, and the
// process ends cleanly (#9.18).
func TestServe_AStalledClientDoesNotHoldTheShutdown(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"))
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers complete, body promised and never sent.
	if _, err := io.WriteString(conn, "POST /api/auth/session-v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\""); err != nil {
		t.Fatal(err)
	}
	// And one with its headers half sent.
	half, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	io.WriteString(half, "GET /api/auth/session-v2 HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	if err := p.stop(); err != nil {
		t.Fatalf("shutdown with stalled clients: %v after %v, want a clean stop", err, time.Since(start))
	}
	t.Logf("stopped in %v with two stalled clients", time.Since(start).Round(time.Millisecond))
}

// TestServe_APostgreSQLThatNeverAnswersFailsTheStartInBoundedTime: a server
// that accepts connections and says nothing once held the start for two
// minutes in silence; each connection attempt is now bounded (#9.18).
func TestServe_APostgreSQLThatNeverAnswersFailsTheStartInBoundedTime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	start := time.Now()
	err = run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0",
		"--store", "postgres://sessiond@" + ln.Addr().String() + "/db?sslmode=disable"},
		getenvFrom(nil), strings.NewReader(""), io.Discard, io.Discard)
	took := time.Since(start)
	if err == nil || took > time.Minute {
		t.Fatalf("start against a PostgreSQL that never answers: %v after %v, want an error well within a minute", err, took)
	}
	t.Logf("refused after %v: %v", took.Round(time.Millisecond), err)
}

// TestServe_AdminListenKeepsTheAdminAPIAndMetricsOffThePublicPort_SEC34
// (#9.14): with --admin-listen, the public listener answers 404 for both.
func TestServe_AdminListenKeepsTheAdminAPIAndMetricsOffThePublicPort_SEC34(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	os.WriteFile(tokenFile, []byte("an-admin-token-that-is-long-enough"), 0o600)
	p := startServer(t, filepath.Join(dir, "s.db"), "--admin-listen", "127.0.0.1:0", "--admin-token-file", tokenFile)
	m := regexp.MustCompile(`"msg":"admin API and metrics listening","addr":"([^"]+)"`).FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("no admin listener in the log:\n%s", p.stderr)
	}
	admin := "http://" + m[1]
	get := func(url string) int {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer an-admin-token-that-is-long-enough")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for path, want := range map[string][2]int{
		"/metrics":                        {404, 200},
		"/admin/v1/users/nobody/sessions": {404, 200},
		"/healthz":                        {200, 200},
		"/api/auth/session-v2":            {401, 404},
	} {
		if got := [2]int{get(p.url + path), get(admin + path)}; got != want {
			t.Errorf("%s: public %d, admin %d; want %d and %d", path, got[0], got[1], want[0], want[1])
		}
	}
}

// TestServe_ConnectionsPerClientAreBounded (#9.15): the connection past
// the per-client bound is closed at once; the others keep working.
func TestServe_ConnectionsPerClientAreBounded(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"), "--max-connections-per-client", "3")
	addr := strings.TrimPrefix(p.url, "http://")
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, err := extra.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Fatalf("the fourth connection of one client was served (%d bytes, %v)", n, err)
	}
	// The three held ones still are.
	io.WriteString(held[0], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	held[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 12)
	if _, err := io.ReadFull(held[0], buf); err != nil || string(buf) != "HTTP/1.1 200" {
		t.Fatalf("a connection within the bound: %q %v", buf, err)
	}
	// Closing one frees its place.
	held[1].Close()
	testenv.WaitFor(t, 10*time.Second, "a connection accepted after one closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		n, _ := c.Read(make([]byte, 1))
		return n == 1
	})
}
