package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/redistest"
)

// At --at-limit refuse, a login with end_oldest_session ends the least
// recently used session instead of answering 409, on every store (each
// store enforces the cap itself: CreateSessionLimited).
func TestServe_SQLite_AtLimitRefuseLoginMayEndTheOldestSession(t *testing.T) {
	endOldestAtLimit(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
}

func TestServe_PostgreSQL_AtLimitRefuseLoginMayEndTheOldestSession(t *testing.T) {
	endOldestAtLimit(t, postgresStore(t))
}

func TestServe_Redis_AtLimitRefuseLoginMayEndTheOldestSession(t *testing.T) {
	endOldestAtLimit(t, redistest.URL(redistest.Prefix(t)))
}

func endOldestAtLimit(t *testing.T, store string) {
	t.Helper()
	p := startNode(t, store, "--max-sessions-per-user", "1", "--at-limit", "refuse")
	c := client{t, p.url}
	lost := c.login("test@example.com", "password")
	if res, body := c.do("POST", "/api/auth/session-v2", `{"email":"test@example.com","password":"password"}`, ""); res.StatusCode != 409 || !strings.Contains(body, "session_limit_reached") {
		t.Fatalf("a second login at a cap of 1: %d %s", res.StatusCode, body)
	}
	if res, _ := c.do("POST", "/api/auth/session-v2", `{"email":"test@example.com","password":"wrong","end_oldest_session":true}`, ""); res.StatusCode != 401 || c.status(lost) != 200 {
		t.Fatalf("end_oldest_session with a wrong password: %d, and the session %d", res.StatusCode, c.status(lost))
	}
	res, body := c.do("POST", "/api/auth/session-v2", `{"email":"test@example.com","password":"password","end_oldest_session":true}`, "")
	if res.StatusCode != 200 {
		t.Fatalf("a login with end_oldest_session at the cap: %d %s", res.StatusCode, body)
	}
	var fresh string
	for _, ck := range res.Cookies() {
		if ck.Name == "sid" {
			fresh = ck.Value
		}
	}
	if c.status(lost) != 401 || c.status(fresh) != 200 {
		t.Fatalf("after the login: the old session %d, the new %d; want 401 and 200", c.status(lost), c.status(fresh))
	}
}
