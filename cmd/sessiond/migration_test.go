package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServe_MigrationFlags: the server as started from the command line:
// --migration off holds until PUT /admin/v1/migration turns it on,
// sessiond_migration_enabled follows, the switch is an audit line,
// --legacy-cookies-keep leaves the legacy cookies beside the new session,
// and --migrate-on-get with a pattern in --legacy-cookies migrates a read.
func TestServe_MigrationFlags(t *testing.T) {
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("dott_auth_session"); err != nil || !strings.HasPrefix(c.Value, "good-") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"user_id": "legacy-7", "email": "old@example.com"})
	}))
	defer old.Close()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	os.WriteFile(tokenFile, []byte("an-admin-token-that-is-long-enough"), 0o600)
	p := startServer(t, filepath.Join(dir, "s.db"), "--admin-token-file", tokenFile, "--legacy-validate-url", old.URL,
		"--migration", "off", "--legacy-cookies-keep", "7d", "--migrate-on-get",
		"--legacy-cookies", "dott_*", "--legacy-credential-cookies", "dott_auth_session")

	call := func(method, path, body string, headers ...string) (int, http.Header, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, p.url+path, rd)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	gauge := func() string {
		t.Helper()
		_, _, body := call("GET", "/metrics", "")
		m := regexp.MustCompile(`(?m)^sessiond_migration_enabled (\d)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatal("/metrics has no sessiond_migration_enabled")
		}
		return m[1]
	}
	admin := []string{"Authorization", "Bearer an-admin-token-that-is-long-enough", "Content-Type", "application/json"}

	if g := gauge(); g != "0" {
		t.Fatalf("--migration off: sessiond_migration_enabled %s", g)
	}
	if st, _, body := call("POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-1"); st != 404 {
		t.Fatalf("--migration off: POST /api/auth/migrate-session %d %s", st, body)
	}
	if st, _, body := call("PUT", "/admin/v1/migration", `{"enabled":true}`, admin...); st != 200 || !strings.Contains(body, `"enabled":true`) {
		t.Fatalf("PUT /admin/v1/migration: %d %s", st, body)
	}
	if g := gauge(); g != "1" {
		t.Fatalf("after PUT on: sessiond_migration_enabled %s", g)
	}
	if !strings.Contains(p.stderr.String(), `"msg":"audit","event":"migration_switched","enabled":true,"was":false`) {
		t.Fatalf("no audit line for the switch:\n%s", p.stderr)
	}
	st, h, body := call("POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-1")
	if st != 200 || !strings.Contains(body, `"id":"legacy-7"`) {
		t.Fatalf("switched on: POST /api/auth/migrate-session %d %s", st, body)
	}
	if sc := h.Values("Set-Cookie"); len(sc) != 1 || !strings.HasPrefix(sc[0], "sid=") {
		t.Fatalf("--legacy-cookies-keep 7d: the migration answered Set-Cookie %q, want the session cookie alone (legacy cookies kept)", sc)
	}
	// --migrate-on-get with a pattern: a read with legacy cookies only
	// answers the session at once.
	st, h, body = call("GET", "/api/auth/session-v2", "", "Cookie", "dott_auth_session=good-2; dott_step=3")
	if st != 200 || !strings.Contains(body, `"id":"legacy-7"`) || len(h.Values("Set-Cookie")) != 1 {
		t.Fatalf("--migrate-on-get: GET /api/auth/session-v2 with legacy cookies: %d %s, Set-Cookie %q", st, body, h.Values("Set-Cookie"))
	}
	if !strings.Contains(p.stderr.String(), `"legacy_cookies_keep":"168h0m0s","migrate_on_get":true`) {
		t.Fatalf("the start's log does not say the migration settings:\n%s", p.stderr)
	}
}
