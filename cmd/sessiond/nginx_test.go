package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// legacyApp is the stand-in for an existing deployment: the old backend's
// validation endpoint and the application behind the proxy.
type legacyApp struct {
	backend, app *httptest.Server
	mu           sync.Mutex
	seen         []http.Header
}

func newLegacyApp(t *testing.T) *legacyApp {
	l := &legacyApp{}
	l.backend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("dott_auth_session")
		if err != nil || c.Value != "old-session-of-maria" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"user_id": "maria-7", "email": "maria@example.com", "tenant_id": "bakery",
			"needs_onboarding": false, "onboarding_step": "done"})
	}))
	l.app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, r.Header.Clone())
		l.mu.Unlock()
		fmt.Fprintf(w, "app page %s for %q", r.URL.Path, r.Header.Get("X-User-Id"))
	}))
	t.Cleanup(l.backend.Close)
	t.Cleanup(l.app.Close)
	return l
}

func (l *legacyApp) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func (l *legacyApp) last() http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return nil
	}
	return l.seen[len(l.seen)-1]
}

// startNginx runs nginx in the foreground with examples/nginx/sessiond.conf,
// its addresses pointed at this test's sessiond and application.
func startNginx(t *testing.T, sessiondAddr, appAddr string) string {
	bin := testenv.Tool(t, "nginx")
	dir := t.TempDir()
	example, err := os.ReadFile("../../examples/nginx/sessiond.conf")
	if err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	site := strings.NewReplacer(
		"server 127.0.0.1:8080;", "server "+sessiondAddr+";",
		"server 127.0.0.1:3000;", "server "+appAddr+";",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
	).Replace(string(example))
	os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o644)
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	serveUntilListening(t, "nginx", exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf")), addr, filepath.Join(dir, "error.log"))
	return "http://" + addr
}

// serveUntilListening starts a server process and waits until addr accepts connections;
// the process is killed when the test ends. A server that does not start
// fails the test with its output and its log file, if any.
func serveUntilListening(t *testing.T, name string, cmd *exec.Cmd, addr, logFile string) {
	t.Helper()
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			var log []byte
			if logFile != "" {
				log, _ = os.ReadFile(logFile)
			}
			t.Fatalf("%s did not start: %s\n%s", name, out, log)
		}
	}
}

// browser is a client that keeps cookies and counts redirects, as a browser
// would follow them.
type browser struct {
	*http.Client
	redirects int
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{}
	b.Client = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.redirects++
		if len(via) > 5 {
			return fmt.Errorf("redirect loop")
		}
		return nil
	}}
	return b
}

func (b *browser) get(t *testing.T, u string, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestNginx_AuthRequestMigratesLegacyCookiesAndGuardsTheApp(t *testing.T) {
	legacy := newLegacyApp(t)
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"), "--cookie-secure=false", "--trusted-proxies", "127.0.0.1/32",
		"--legacy-validate-url", legacy.backend.URL)
	site := startNginx(t, strings.TrimPrefix(p.url, "http://"), strings.TrimPrefix(legacy.app.URL, "http://"))
	proxyGuardsTheApp(t, "nginx", site, legacy)
}

// proxyGuardsTheApp drives a browser-like client through a proxy that asks
// sessiond (forward auth) before the application: legacy cookies in, one
// redirect, only sid left, the identity seen by the application and
// spoofed copies dropped, logout, then 401 through the proxy; a forged
// legacy cookie is cleared and never reaches the application.
func proxyGuardsTheApp(t *testing.T, proxy, site string, legacy *legacyApp) {
	t.Helper()
	u, _ := url.Parse(site)
	b := newBrowser(t)
	b.Jar.SetCookies(u, []*http.Cookie{
		{Name: "dott_auth_session", Value: "old-session-of-maria"},
		{Name: "onboarding_status", Value: "done"},
		{Name: "businessInfoCompleted", Value: "true"},
		{Name: "theme", Value: "dark"},
	})
	status, body := b.get(t, site+"/orders?page=2", "X-User-Id", "admin", "X-Tenant-Id", "root")
	if status != 200 || body != `app page /orders for "maria-7"` {
		t.Fatalf("first visit through %s: %d %q", proxy, status, body)
	}
	if b.redirects != 1 {
		t.Fatalf("%d redirects, want exactly one", b.redirects)
	}
	var names []string
	for _, c := range b.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "theme,sid" && strings.Join(names, ",") != "sid,theme" {
		t.Fatalf("cookies after migration: %v, want only sid besides the unrelated theme", names)
	}
	h := legacy.last()
	if h.Get("X-User-Id") != "maria-7" || h.Get("X-Tenant-Id") != "bakery" || h.Get("X-User-Email") != "maria@example.com" ||
		len(h.Values("X-User-Id")) != 1 || len(h.Values("X-Tenant-Id")) != 1 || h.Get("X-Session-Id") == "" {
		t.Fatalf("the application saw identity headers %v", h)
	}

	// Signed in, the spoofed headers are replaced again on every request.
	b.get(t, site+"/profile", "X-User-Id", "admin")
	if h := legacy.last(); h.Get("X-User-Id") != "maria-7" || len(h.Values("X-User-Id")) != 1 {
		t.Fatalf("spoofed X-User-Id reached the app: %v", h)
	}

	// Logout through the proxy, then the app is closed: 401.
	req, _ := http.NewRequest("DELETE", site+"/api/auth/session-v2", nil)
	res, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 {
		t.Fatalf("logout through %s: %d", proxy, res.StatusCode)
	}
	before := legacy.count()
	if status, _ := b.get(t, site+"/orders", "X-User-Id", "maria-7"); status != 401 {
		t.Fatalf("after logout: %d, want 401", status)
	}

	// A stranger with a forged legacy cookie gets 401, and it is cleared.
	s := newBrowser(t)
	s.Jar.SetCookies(u, []*http.Cookie{{Name: "dott_auth_session", Value: "forged"}})
	if status, _ := s.get(t, site+"/orders"); status != 401 || len(s.Jar.Cookies(u)) != 0 {
		t.Fatalf("forged legacy cookie: %d, cookies left %v", status, s.Jar.Cookies(u))
	}
	if legacy.count() != before {
		t.Fatal("the application was reached without a session")
	}
}

// TestNginx_NoSpellingOfAnIdentityHeaderReachesAWSGIApp_SEC28 runs the
// shipped configuration in front of a WSGI-style application: whatever
// spelling of the identity and remote-user headers a client sends
// (X_User_Id, x-user-id, Remote-User…), the application believes only what
// sessiond vouches for. nginx drops headers with underscores
// (underscores_in_headers off) and the configuration clears the rest.
func TestNginx_NoSpellingOfAnIdentityHeaderReachesAWSGIApp_SEC28(t *testing.T) {
	app := testenv.WSGIApp(t)
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"), "--cookie-secure=false", "--trusted-proxies", "127.0.0.1/32")
	site := startNginx(t, strings.TrimPrefix(p.url, "http://"), strings.TrimPrefix(app.URL, "http://"))
	proxyVouchesOnly(t, "nginx", site)
}

// proxyVouchesOnly signs the demo user in through a proxy in front of
// testenv.WSGIApp, then sends every spelling of the identity and
// remote-user headers, signed in and not: the application must believe
// only sessiond's values (SEC-28).
func proxyVouchesOnly(t *testing.T, proxy, site string) {
	t.Helper()
	body := `{"email":"test@example.com","password":"password"}`
	res, err := http.Post(site+"/api/auth/session-v2", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		User struct {
			ID       string `json:"id"`
			TenantID string `json:"tenant_id"`
		} `json:"user"`
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	err = json.NewDecoder(res.Body).Decode(&login)
	res.Body.Close()
	var sid string
	for _, c := range res.Cookies() {
		if c.Name == "sid" {
			sid = c.Value
		}
	}
	if res.StatusCode != 200 || err != nil || sid == "" || login.User.ID == "" {
		t.Fatalf("login through %s: %d, %v, sid %q, user %+v", proxy, res.StatusCode, err, sid, login.User)
	}
	believe := func(cookie string) (int, testenv.Beliefs) {
		t.Helper()
		req, _ := http.NewRequest("GET", site+"/orders", nil)
		testenv.SetRawHeaders(req.Header, testenv.SpoofingHeaders())
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b testenv.Beliefs
		if res.StatusCode == 200 {
			if err := json.NewDecoder(res.Body).Decode(&b); err != nil {
				t.Fatalf("GET /orders through %s: %v", proxy, err)
			}
		}
		return res.StatusCode, b
	}
	status, b := believe("sid=" + sid)
	if status != 200 {
		t.Fatalf("GET /orders through %s, signed in, with spoofed headers: %d", proxy, status)
	}
	b.Check(t, "signed in, through "+proxy, map[string]string{
		"HTTP_X_USER_ID": login.User.ID, "HTTP_X_USER_EMAIL": "test@example.com", "HTTP_X_TENANT_ID": login.User.TenantID,
		"HTTP_X_SESSION_ID": login.Session.ID, "HTTP_REMOTE_USER": "", "HTTP_X_REMOTE_USER": "", "HTTP_X_FORWARDED_USER": "",
	})
	for _, cookie := range []string{"", "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if status, b := believe(cookie); status != http.StatusUnauthorized {
			t.Fatalf("GET /orders through %s with Cookie %q and spoofed headers: %d (the application believed %v), want 401", proxy, cookie, status, b)
		}
	}
}
