package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sqlitestore"
)

type proc struct {
	url    string
	stderr *testenv.Buffer
	stop   func() error
}

func getenvFrom(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// startServer runs "sessiond serve" through run, as main does, on a free
// port, and returns once it listens.
func startServer(t *testing.T, db string, extra ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testenv.Buffer{}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--demo"}
	if db != "" {
		args = append(args, "--store", "sqlite:"+db)
	}
	args = append(args, extra...)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, getenvFrom(nil), strings.NewReader(""), io.Discard, stderr) }()
	addrRE := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			var once sync.Once
			var stopErr error
			p := &proc{url: "http://" + m[1], stderr: stderr, stop: func() error {
				once.Do(func() { cancel(); stopErr = <-done })
				return stopErr
			}}
			t.Cleanup(func() { p.stop() })
			return p
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("server exited before listening: %v\n%s", err, stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not listen within 20s:\n%s", stderr)
		}
	}
}

// cli runs one sessiond command and returns its output.
func cli(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, getenvFrom(nil), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// readmeWalkthrough returns the curl commands between the walkthrough
// markers of the README, as a user would paste them.
func readmeWalkthrough(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- "+marker+" -->")
	block, _, ok2 := strings.Cut(rest, "<!-- /"+marker+" -->")
	if !ok || !ok2 {
		t.Fatal("README has no walkthrough markers")
	}
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```bash")
	return strings.TrimSuffix(block, "```")
}

// TestREADME_WalkthroughWorksAsWritten runs the README's curl walkthrough
// with bash and curl against a server started as the README says (--demo),
// checking each command's status against the one its comment promises.
func TestREADME_WalkthroughWorksAsWritten(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	dir := t.TempDir()
	p := startServer(t, filepath.Join(dir, "s.db"))
	runWalkthrough(t, dir, p.url, readmeWalkthrough(t, "walkthrough"))
	login, _ := os.ReadFile(filepath.Join(dir, "hdr.2"))
	cookies := regexp.MustCompile(`(?im)^set-cookie: (.*)$`).FindAllStringSubmatch(string(login), -1)
	if len(cookies) != 1 || !regexp.MustCompile(`^sid=[A-Za-z0-9_-]{36};`).MatchString(cookies[0][1]) {
		t.Fatalf("login set cookies %q, want exactly one sid of 36 characters", cookies)
	}
	if body, _ := os.ReadFile(filepath.Join(dir, "body.3")); !strings.Contains(string(body), `"email":"test@example.com"`) {
		t.Fatalf("GET after login: %s", body)
	}
	if hdr, _ := os.ReadFile(filepath.Join(dir, "hdr.4")); !strings.Contains(string(hdr), "Max-Age=0") {
		t.Fatalf("logout did not expire the cookie:\n%s", hdr)
	}
	if !strings.Contains(p.stderr.String(), "DEMO MODE") {
		t.Fatal("--demo did not say so loudly")
	}
}

// runWalkthrough runs a README block of curl commands with bash in dir,
// against url instead of localhost:8080, and checks the status each
// command prints (curl -i, as the README writes it) against the one its
// comment promises. Each curl's headers are kept as hdr.N, and what it
// printed as body.N.
func runWalkthrough(t *testing.T, dir, url, script string) {
	t.Helper()
	var want []string
	for _, m := range regexp.MustCompile(`#\s*(\d{3})`).FindAllStringSubmatch(script, -1) {
		want = append(want, m[1])
	}
	if len(want) < 3 {
		t.Fatalf("walkthrough promises only %d statuses:\n%s", len(want), script)
	}
	script = strings.ReplaceAll(script, "http://localhost:8080", url)
	// The wrapper only records: -sS as a terminal would show it (no
	// progress meter), the headers in a file, the output in another.
	wrapper := `curl() { n=$((n + 1)); command curl -sS -D "hdr.$n" "$@" | tee "body.$n"; echo; }` + "\nn=0\n"
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", wrapper+script)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s%s", err, out, stderr.Bytes())
	}
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^HTTP/[0-9.]+ (\d{3})`).FindAllStringSubmatch(string(out), -1) {
		got = append(got, m[1])
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("printed statuses %v, README promises %v; output:\n%s", got, want, out)
	}
}

// TestREADME_DevicesWalkthroughWorksAsWritten sets up as the README says
// (an admin token made with head and base64, --demo, --admin-token-file)
// and runs its devices and admin block.
func TestREADME_DevicesWalkthroughWorksAsWritten(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	dir := t.TempDir()
	mk := exec.Command("bash", "-c", "head -c 32 /dev/urandom | base64 > admin-token")
	mk.Dir = dir
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	p := startServer(t, filepath.Join(dir, "s.db"), "--admin-token-file", filepath.Join(dir, "admin-token"))
	runWalkthrough(t, dir, p.url, readmeWalkthrough(t, "devices-walkthrough"))
	list, _ := os.ReadFile(filepath.Join(dir, "body.3"))
	if strings.Count(string(list), `"id"`) != 2 || strings.Count(string(list), `"current":true`) != 1 {
		t.Fatalf("device list: %s", list)
	}
	created, _ := os.ReadFile(filepath.Join(dir, "body.7"))
	if !strings.Contains(string(created), `"set_cookie":"sid=`) {
		t.Fatalf("admin create: %s", created)
	}
}

type client struct {
	t   *testing.T
	url string
}

func (c client) do(method, path, body, cookie string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", "sid="+cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (c client) login(email, pw string) string {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	res, b := c.do("POST", "/api/auth/session-v2", string(body), "")
	if res.StatusCode != 200 {
		c.t.Fatalf("login as %s: %d %s", email, res.StatusCode, b)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "sid" {
			return ck.Value
		}
	}
	c.t.Fatal("no sid cookie")
	return ""
}

func (c client) status(token string) int {
	c.t.Helper()
	res, _ := c.do("GET", "/api/auth/session-v2", "", token)
	return res.StatusCode
}

func TestServe_SessionsSurviveARestartAndTheFileHoldsNoToken_SEC03(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	p := startServer(t, db)
	token := client{t, p.url}.login("test@example.com", "password")
	if err := p.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	p = startServer(t, db)
	if s := (client{t, p.url}).status(token); s != 200 {
		t.Fatalf("session after restart: %d, want 200", s)
	}
	p.stop()
	for _, name := range []string{db, db + "-wal", db + "-shm"} {
		if b, err := os.ReadFile(name); err == nil && bytes.Contains(b, []byte(token)) {
			t.Fatalf("%s contains the cookie value", filepath.Base(name))
		}
	}
	if strings.Contains(p.stderr.String(), token) {
		t.Fatal("the log contains the cookie value")
	}
}

func TestServe_ShutdownFlushesPendingTouches(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	p := startServer(t, db, "--touch-interval", "1ms")
	c := client{t, p.url}
	token := c.login("test@example.com", "password")
	time.Sleep(5 * time.Millisecond) // let the touch interval pass
	if c.status(token) != 200 {
		t.Fatal("GET failed")
	}
	// The default flush interval is 1s: stop at once, so only the
	// shutdown can have written the touch.
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(context.Background(), db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.SessionByTokenHash(context.Background(), sessiond.HashToken(token))
	if err != nil {
		t.Fatal(err)
	}
	if !s.LastActivity.After(s.CreatedAt) {
		t.Fatalf("last activity %v not after creation %v: the pending touch was lost at shutdown", s.LastActivity, s.CreatedAt)
	}
}

func TestCLI_UsersAndSessionsAndNoSecretInTheLog_SEC22(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	store := "sqlite:" + db
	out, errOut, err := cli(t, "s3cret-passw0rd\n", "user", "add", "--email", "Carol@Example.com", "--tenant", "acme", "--store", store)
	if err != nil || !strings.Contains(out, "created user Carol@Example.com") {
		t.Fatalf("user add: %v %q %q", err, out, errOut)
	}
	if _, _, err := cli(t, "another-password\n", "user", "add", "--email", "carol@example.com", "--store", store); err == nil {
		t.Fatal("a second user with the same email in another case was created")
	}
	if _, _, err := cli(t, "short\n", "user", "add", "--email", "dan@example.com", "--store", store); err == nil {
		t.Fatal("a 5-character password was accepted")
	}
	if _, _, err := cli(t, "", "user", "add", "--email", "dan@example.com", "--store", store); err == nil {
		t.Fatal("an empty standard input was accepted as a password")
	}

	p := startServer(t, db)
	c := client{t, p.url}
	first := c.login("carol@example.com", "s3cret-passw0rd")
	second := c.login("CAROL@example.com", "s3cret-passw0rd")

	out, _, err = cli(t, "", "sessions", "list", "--user", "carol@example.com", "--json", "--store", store)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct{ ID string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("sessions list: %v %s", err, out)
	}
	if strings.Contains(out, first) || strings.Contains(out, second) {
		t.Fatal("sessions list printed a token")
	}

	// Revoke one session from the CLI, another process as far as the
	// server's cache is concerned: the server must stop accepting it.
	var firstID string
	res, body := c.do("GET", "/api/auth/session-v2", "", first)
	var sess struct{ Session struct{ ID string } }
	json.Unmarshal([]byte(body), &sess)
	firstID = sess.Session.ID
	if res.StatusCode != 200 || firstID == "" {
		t.Fatalf("GET: %d %s", res.StatusCode, body)
	}
	if out, _, err := cli(t, "", "sessions", "revoke", "--id", firstID, "--store", store); err != nil || !strings.Contains(out, "revoked session") {
		t.Fatalf("revoke --id: %v %s", err, out)
	}
	waitStatus(t, c, first, 401)
	if c.status(second) != 200 {
		t.Fatal("revoking one session ended another")
	}
	if out, _, err := cli(t, "", "sessions", "revoke", "--user", "carol@example.com", "--store", store); err != nil || !strings.Contains(out, "revoked 1 sessions") {
		t.Fatalf("revoke --user: %v %s", err, out)
	}
	waitStatus(t, c, second, 401)

	third := c.login("carol@example.com", "s3cret-passw0rd")
	if out, _, err := cli(t, "", "user", "disable", "--email", "carol@example.com", "--store", store); err != nil || !strings.Contains(out, "1 sessions revoked") {
		t.Fatalf("user disable: %v %s", err, out)
	}
	waitStatus(t, c, third, 401)
	body2, _ := json.Marshal(map[string]string{"email": "carol@example.com", "password": "s3cret-passw0rd"})
	if res, _ := c.do("POST", "/api/auth/session-v2", string(body2), ""); res.StatusCode != 401 {
		t.Fatalf("disabled user logged in: %d", res.StatusCode)
	}

	// SEC-22: the server's log names users and sessions, never a password
	// or a token.
	logs := p.stderr.String()
	for _, secret := range []string{"s3cret-passw0rd", first, second, third} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the server log contains a secret (%.6s…)", secret)
		}
	}
	if !strings.Contains(logs, `"msg":"audit","event":"login"`) || !strings.Contains(logs, `"session_id"`) {
		t.Fatalf("the server log lacks structured login events:\n%s", logs)
	}

	if out, _, err := cli(t, "", "purge", "--store", store); err != nil || !strings.HasPrefix(out, "purged ") {
		t.Fatalf("purge: %v %s", err, out)
	}
	if out, _, err := cli(t, "", "version"); err != nil || !strings.HasPrefix(out, "sessiond ") {
		t.Fatalf("version: %v %s", err, out)
	}
	if _, _, err := cli(t, "", "sessions", "revoke", "--id", "not-a-uuid", "--store", store); err == nil {
		t.Fatal("revoke accepted a malformed id")
	}
	if _, _, err := cli(t, "", "sessions", "revoke", "--store", store); !errors.Is(err, errUsage) {
		t.Fatalf("revoke without --id or --user: %v, want a usage error", err)
	}
}

// waitStatus polls until the token gets the status: a revocation made by
// another process reaches the server's cache within the change feed's poll
// interval (100ms).
func waitStatus(t *testing.T, c client, token string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := c.status(token)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d after 5s, want %d", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCLI_EveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		args := append(strings.Fields(c.name), "--help")
		out, _, err := cli(t, "", args...)
		if err != nil {
			t.Errorf("%s --help: %v", c.name, err)
		}
		if !strings.Contains(out, "Usage: sessiond "+c.name) && c.name != "version" {
			t.Errorf("%s --help printed %q", c.name, out)
		}
	}
	out, _, err := cli(t, "", "--help")
	if err != nil || !strings.Contains(out, "sessiond serve") {
		t.Fatalf("--help: %v %s", err, out)
	}
	if _, _, err := cli(t, "", "frobnicate"); !errors.Is(err, errUsage) {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestConfig_InvalidValuesStopTheStartNamingTheSetting(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--lifetime", "forever"}, nil, "--lifetime"},
		{nil, map[string]string{"SESSIOND_IDLE_TIMEOUT": "soon"}, "SESSIOND_IDLE_TIMEOUT"},
		{[]string{"--touch-interval", "3h"}, nil, "--touch-interval"},
		{[]string{"--cookie-samesite", "sometimes"}, nil, "--cookie-samesite"},
		{[]string{"--cookie-name", "bad name"}, nil, "cookie"},
		{[]string{"--cookie-name", "__Host-sid", "--cookie-domain", "example.com"}, nil, "__Host-"},
		{[]string{"--allowed-origins", "app.example.com"}, nil, "--allowed-origins"},
		{[]string{"--trusted-proxies", "10.0.0.0/33"}, nil, "--trusted-proxies"},
		{[]string{"--store", "mysql://x"}, nil, "--store"},
		{[]string{"--cache-size", "-1"}, nil, "--cache-size"},
		{[]string{"--demo=maybe"}, nil, "demo"},
	}
	for _, c := range cases {
		var errOut bytes.Buffer
		args := append([]string{"serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + filepath.Join(t.TempDir(), "s.db")}, c.args...)
		err := run(context.Background(), args, getenvFrom(c.env), strings.NewReader(""), io.Discard, &errOut)
		if err == nil {
			t.Errorf("%v %v: started", c.args, c.env)
			continue
		}
		if msg := err.Error() + errOut.String(); !strings.Contains(msg, c.want) {
			t.Errorf("%v %v: error %q does not name %s", c.args, c.env, msg, c.want)
		}
	}
}

func TestConfig_FlagsWinOverTheEnvironment(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &testenv.Buffer{}
	vars := map[string]string{"SESSIOND_LIFETIME": "1h", "SESSIOND_COOKIE_NAME": "from_env"}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + db, "--demo", "--lifetime", "2h"},
			getenvFrom(vars), strings.NewReader(""), io.Discard, stderr)
	}()
	addrRE := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		m = addrRE.FindStringSubmatch(stderr.String())
	}
	if m == nil {
		t.Fatalf("no listen line:\n%s", stderr)
	}
	body, _ := json.Marshal(map[string]string{"email": "test@example.com", "password": "password"})
	res, err := http.Post("http://"+m[1]+"/api/auth/session-v2", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	c := res.Header.Get("Set-Cookie")
	if !strings.HasPrefix(c, "from_env=") || !strings.Contains(c, fmt.Sprintf("Max-Age=%d", 2*3600-1)) && !strings.Contains(c, "Max-Age=7200") {
		t.Fatalf("Set-Cookie %q: want the env's cookie name and the flag's 2h lifetime", c)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestServe_AdminTokenFileAndWebhookFlags(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	secretFile := filepath.Join(dir, "webhook-secret")
	os.WriteFile(tokenFile, []byte("  an-admin-token-that-is-long-enough\n"), 0o600)
	os.WriteFile(secretFile, []byte("a-webhook-secret-key-0123456789"), 0o600)

	// The webhook endpoint hangs: requests must not wait for it.
	hang := make(chan struct{})
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Header.Get("X-Sessiond-Signature")+" "+string(body))
		mu.Unlock()
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hook.Close()
	defer close(hang)

	p := startServer(t, filepath.Join(dir, "s.db"), "--admin-token-file", tokenFile,
		"--webhook-url", hook.URL, "--webhook-secret-file", secretFile)
	c := client{t, p.url}
	start := time.Now()
	for range 3 {
		c.login("test@example.com", "password")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("3 logins took %v with a hanging webhook endpoint", d)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no webhook delivery was attempted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if !strings.HasPrefix(got[0], "sha256=") || !strings.Contains(got[0], `"type":"`) {
		t.Fatalf("delivery %q", got[0])
	}
	mu.Unlock()

	req, _ := http.NewRequest("GET", p.url+"/admin/v1/users/nobody/sessions", nil)
	req.Header.Set("Authorization", "Bearer an-admin-token-that-is-long-enough")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("admin API with the token from the file: %d", res.StatusCode)
	}

	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	for _, args := range [][]string{
		{"--admin-token-file", short},
		{"--admin-token-file", filepath.Join(dir, "missing")},
		{"--webhook-url", hook.URL},
		{"--webhook-url", "ftp://x", "--webhook-secret-file", secretFile},
	} {
		all := append([]string{"serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + filepath.Join(dir, "s2.db")}, args...)
		if err := run(context.Background(), all, getenvFrom(nil), strings.NewReader(""), io.Discard, io.Discard); err == nil {
			t.Errorf("serve %v started", args)
		}
	}
}
