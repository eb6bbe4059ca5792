package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/redistest"
)

const testAdminToken = "an-admin-token-that-is-long-enough"

// adminDo sends an admin API request with the bearer token.
func (c client) adminDo(method, path, body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s on %s: %v", method, path, c.url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func adminTokenFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(f, []byte(testAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTwoNodes_PostgreSQL_UserChangeReachesTheOtherNodesCache(t *testing.T) {
	userChangeReachesTheOtherNode(t, postgresStore(t))
}

func TestTwoNodes_Redis_UserChangeReachesTheOtherNodesCache(t *testing.T) {
	userChangeReachesTheOtherNode(t, redistest.URL(redistest.Prefix(t)))
}

// userChangeReachesTheOtherNode PATCHes the demo user's onboarding on node
// A, through the admin API, while node B holds the user in its cache (TTL
// 1h): B's next answer must show the change within the documented
// propagation bound (README "Session policy": 1s).
func userChangeReachesTheOtherNode(t *testing.T, store string) {
	t.Helper()
	tokenFile := adminTokenFile(t)
	a := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	b := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	ca, cb := client{t, a.url}, client{t, b.url}
	token := cb.login("test@example.com", "password")
	var answer struct {
		User struct {
			ID              string `json:"id"`
			NeedsOnboarding bool   `json:"needs_onboarding"`
			OnboardingStep  string `json:"onboarding_step"`
		} `json:"user"`
	}
	read := func() {
		res, body := cb.do("GET", "/api/auth/session-v2", "", token)
		if res.StatusCode != 200 || json.Unmarshal([]byte(body), &answer) != nil {
			t.Fatalf("GET session on node B (%s): %d %s", b.url, res.StatusCode, body)
		}
	}
	read()
	waitCached(t, cb, token)
	read()
	if answer.User.OnboardingStep == "plan" {
		t.Fatalf("unexpected starting state: %+v", answer.User)
	}
	status, body := ca.adminDo("PATCH", "/admin/v1/users/"+answer.User.ID, `{"needs_onboarding":true,"onboarding_step":"plan"}`)
	if status != 200 {
		t.Fatalf("PATCH on node A (%s): %d %s", a.url, status, body)
	}
	patched := time.Now()
	for read(); !answer.User.NeedsOnboarding || answer.User.OnboardingStep != "plan"; read() {
		if time.Since(patched) > time.Second {
			t.Fatalf("node B (%s) still answers %+v %v after a PATCH on node A (%s); the bound is 1s", b.url, answer.User, time.Since(patched), a.url)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("the user change on A reached B's answer in %v", time.Since(patched))

	// Disabling on A ends the session on B as well.
	if status, body := ca.adminDo("PATCH", "/admin/v1/users/"+answer.User.ID, `{"disabled":true}`); status != 200 || !strings.Contains(body, `"revoked":1`) {
		t.Fatalf("disable on node A: %d %s", status, body)
	}
	for disabled := time.Now(); cb.status(token) != 401; time.Sleep(2 * time.Millisecond) {
		if time.Since(disabled) > time.Second {
			t.Fatalf("node B still accepts the session of a user disabled on node A after 1s")
		}
	}
}

// TestCLI_UserUpdateDeleteListImport runs the user subcommands on one
// SQLite file as an operator would, against a running server.
func TestCLI_UserUpdateDeleteListImport(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	store := "sqlite:" + db
	if _, errOut, err := cli(t, "s3cret-passw0rd\n", "user", "add", "--email", "dee@example.com", "--needs-onboarding", "--onboarding-step", "profile", "--store", store); err != nil {
		t.Fatalf("user add: %v %s", err, errOut)
	}
	imp := filepath.Join(dir, "users.jsonl")
	lines := `{"email":"dj@example.com","id":"dj-1","tenant_id":"acme","needs_onboarding":true,"onboarding_step":"plan","attributes":{"plan":"pro"},"password_hash":"pbkdf2_sha256$1000$mPxMmZRePHTcb9JnO2dZR7$KwXex3SH+22Be1SvSpA48dwVfqszhTZm12Sf6XOi8Yc="}` + "\n" +
		`{"email":"bad@example.com","password_hash":"crypt$$abc"}` + "\n"
	os.WriteFile(imp, []byte(lines), 0o600)
	if _, _, err := cli(t, "", "user", "import", "--store", store, imp); err == nil || !strings.Contains(err.Error(), "users.jsonl:2:") {
		t.Fatalf("import with an unknown hash on line 2: %v, want an error naming line 2", err)
	}
	os.WriteFile(imp, []byte(strings.SplitAfter(lines, "\n")[0]), 0o600)
	if out, errOut, err := cli(t, "", "user", "import", "--store", store, imp); err != nil || !strings.Contains(out, "imported 1 users") {
		t.Fatalf("user import: %v %q %q", err, out, errOut)
	}
	if _, _, err := cli(t, "", "user", "import", "--store", store, imp); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("importing the same user again: %v, want an error naming line 1", err)
	}

	p := startServer(t, db)
	c := client{t, p.url}
	token := c.login("dj@example.com", "correct horse battery staple")

	out, errOut, err := cli(t, "", "user", "update", "--id", "dj-1", "--needs-onboarding=false", "--onboarding-step", "", "--attributes", `{"roles":["admin"]}`, "--store", store)
	if err != nil || !strings.Contains(out, "version 2") {
		t.Fatalf("user update: %v %q %q (version 2: the login upgraded the hash)", err, out, errOut)
	}
	if _, _, err := cli(t, "", "user", "update", "--id", "dj-1", "--onboarding-step", "x", "--version", "1", "--store", store); err == nil {
		t.Fatal("user update at a stale version succeeded")
	}
	res, body := c.do("GET", "/api/auth/session-v2", "", token)
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(body, `"needs_onboarding":false`); res, body = c.do("GET", "/api/auth/session-v2", "", token) {
		if time.Now().After(deadline) {
			t.Fatalf("after user update by the CLI the server still answers %d %s", res.StatusCode, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(body, `"attributes":{"plan":"pro","roles":["admin"]}`) {
		t.Fatalf("attributes after a merge patch: %s", body)
	}

	out, _, err = cli(t, "", "user", "list", "--json", "--limit", "1", "--all", "--store", store)
	var list struct {
		Users []map[string]any `json:"users"`
		Next  string           `json:"next_cursor"`
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Users) != 3 || list.Next != "" {
		t.Fatalf("user list --json --all: %v %s", err, out)
	}
	for _, u := range list.Users {
		for _, k := range []string{"id", "email", "tenant_id", "needs_onboarding", "onboarding_step", "disabled", "attributes", "version", "created_at", "updated_at", "has_password"} {
			if _, ok := u[k]; !ok {
				t.Fatalf("user list --json lacks %q: %v", k, u)
			}
		}
		if _, ok := u["password_hash"]; ok {
			t.Fatal("user list shows a password hash")
		}
	}
	page1, _, err := cli(t, "", "user", "list", "--limit", "1", "--email-prefix", "D", "--store", store)
	if err != nil || strings.Count(page1, "@example.com") != 1 || !strings.Contains(page1, "more: --cursor ") {
		t.Fatalf("user list page 1: %v %s", err, page1)
	}
	_, cursor, _ := strings.Cut(strings.TrimSpace(page1), "more: --cursor ")
	page2, _, err := cli(t, "", "user", "list", "--limit", "1", "--email-prefix", "D", "--cursor", cursor, "--store", store)
	if err != nil || strings.Count(page2, "@example.com") != 1 || strings.Contains(page2, "more:") {
		t.Fatalf("user list page 2: %v %s", err, page2)
	}
	if both := page1 + page2; !strings.Contains(both, "dee@example.com") || !strings.Contains(both, "dj@example.com") {
		t.Fatalf("two pages of users whose email starts with D:\n%s%s", page1, page2)
	}

	if out, _, err := cli(t, "", "user", "delete", "--email", "dj@example.com", "--store", store); err != nil || !strings.Contains(out, "1 sessions revoked") {
		t.Fatalf("user delete: %v %s", err, out)
	}
	waitStatus(t, c, token, 401)
	if _, _, err := cli(t, "", "user", "delete", "--id", "dj-1", "--store", store); err == nil {
		t.Fatal("deleting a deleted user succeeded")
	}
}
