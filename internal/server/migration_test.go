package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessionhttp"
)

// browser is an HTTP client with a cookie jar, as a browser keeps cookies:
// the test server, the old backend and the application all listen on
// 127.0.0.1, so the jar sends the legacy cookies to each of them (cookies
// ignore ports).
type browser struct {
	name   string
	client *http.Client
	jar    *cookiejar.Jar
}

func newBrowser(t *testing.T, name, site string, legacy ...string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(site)
	var cs []*http.Cookie
	for i := 0; i+1 < len(legacy); i += 2 {
		cs = append(cs, &http.Cookie{Name: legacy[i], Value: legacy[i+1], Path: "/"})
	}
	jar.SetCookies(u, cs)
	return &browser{name: name, client: &http.Client{Jar: jar}, jar: jar}
}

// do sends a request through the jar (following redirects) and returns the
// status and body.
func (b *browser) do(t *testing.T, method, target string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", b.name, method, target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// cookie returns the value the jar holds for name on site, "" for none.
func (b *browser) cookie(site, name string) string {
	u, _ := url.Parse(site)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// A shadow period (--legacy-cookies-keep) keeps a migrated browser's legacy
// cookies, so that switching the application back to the old scheme logs
// nobody out; once the session is older than the period, the next answer
// of sessiond that sees them expires them. Driven through the session API
// (a single-page app), the reverse proxy and the logout.
func TestMigration_ShadowPeriodKeepsLegacyCookiesThenClearsThem_SEC25(t *testing.T) {
	const keep = time.Hour
	old := legacyBackend(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app saw "+r.URL.Path)
	}))
	defer app.Close()
	up, _ := url.Parse(app.URL)
	clk := &clock{t: time.Now()}
	s := start(t, options{legacyURL: old.URL, upstream: up, clock: clk, cookie: sessionhttp.CookieConfig{Insecure: true},
		migrator: func(m *sessionhttp.Migrator) { m.KeepLegacy = keep; m.Now = clk.Now }})

	// Three browsers with legacy sessions: a single-page app that migrates
	// through the API, one that browses the application through the proxy,
	// and one that will log out.
	spa := newBrowser(t, "spa", s.url, "dott_auth_session", "good-spa", "onboarding_status", "done")
	web := newBrowser(t, "web", s.url, "dott_auth_session", "good-web", "onboarding_status", "done")
	quits := newBrowser(t, "quits", s.url, "dott_auth_session", "good-quits")
	if st, body := spa.do(t, "POST", s.url+"/api/auth/migrate-session"); st != 200 || !strings.Contains(body, `"id":"legacy-1"`) {
		t.Fatalf("spa: POST /api/auth/migrate-session: %d %s", st, body)
	}
	if st, body := web.do(t, "GET", s.url+"/page"); st != 200 || body != "app saw /page" {
		t.Fatalf("web: GET /page through the proxy: %d %q", st, body)
	}
	if st, _ := quits.do(t, "POST", s.url+"/api/auth/migrate-session"); st != 200 {
		t.Fatalf("quits: POST /api/auth/migrate-session: %d", st)
	}

	// Within the period every browser holds its session and its legacy
	// cookies, and the old backend still accepts them: a rollback would
	// log nobody out. Requests that see them (the session API, the proxy,
	// the manual migration) leave them alone.
	clk.Advance(keep - time.Minute)
	for _, b := range []*browser{spa, web, quits} {
		if b.cookie(s.url, "sid") == "" || !strings.HasPrefix(b.cookie(s.url, "dott_auth_session"), "good-") {
			t.Fatalf("%s within the period: sid %q, dott_auth_session %q", b.name, b.cookie(s.url, "sid"), b.cookie(s.url, "dott_auth_session"))
		}
		if st, _ := b.do(t, "GET", s.url+sessionPath); st != 200 {
			t.Fatalf("%s within the period: GET %s: %d", b.name, sessionPath, st)
		}
		if st, _ := b.do(t, "GET", old.URL); st != 200 {
			t.Fatalf("%s within the period: the old backend refused the legacy cookies (%d): a rollback would log this browser out", b.name, st)
		}
	}
	if st, _ := web.do(t, "GET", s.url+"/other"); st != 200 || web.cookie(s.url, "dott_auth_session") != "good-web" {
		t.Fatalf("web within the period through the proxy: %d, legacy cookie %q", st, web.cookie(s.url, "dott_auth_session"))
	}
	if st, _ := spa.do(t, "POST", s.url+"/api/auth/migrate-session"); st != 200 || spa.cookie(s.url, "dott_auth_session") != "good-spa" {
		t.Fatalf("spa within the period, POST /api/auth/migrate-session again: %d, legacy cookie %q", st, spa.cookie(s.url, "dott_auth_session"))
	}

	// A logout ends the legacy cookies too: a rollback must not log the
	// user in again.
	if st, _ := quits.do(t, "DELETE", s.url+sessionPath); st != 204 {
		t.Fatalf("quits: logout: %d", st)
	}
	if v := quits.cookie(s.url, "dott_auth_session"); v != "" {
		t.Fatalf("quits: the logout left the legacy cookie %q", v)
	}

	// After the period, the next answer that sees them expires them; the
	// sessions go on.
	clk.Advance(2 * time.Minute)
	if st, body := spa.do(t, "GET", s.url+sessionPath); st != 200 || !strings.Contains(body, `"id":"legacy-1"`) {
		t.Fatalf("spa after the period: GET %s: %d %s", sessionPath, st, body)
	}
	if st, body := web.do(t, "GET", s.url+"/page"); st != 200 || body != "app saw /page" {
		t.Fatalf("web after the period: GET /page: %d %q", st, body)
	}
	for _, b := range []*browser{spa, web} {
		if v := b.cookie(s.url, "dott_auth_session") + b.cookie(s.url, "onboarding_status"); v != "" {
			t.Fatalf("%s after the period (%v after the migration): legacy cookies left: %q", b.name, keep+time.Minute, v)
		}
		if b.cookie(s.url, "sid") == "" {
			t.Fatalf("%s after the period: the session cookie went too", b.name)
		}
		if st, _ := b.do(t, "GET", old.URL); st != 401 {
			t.Fatalf("%s after the period: the old backend answered %d, want 401 (no legacy cookie left)", b.name, st)
		}
		if st, _ := b.do(t, "GET", s.url+sessionPath); st != 200 {
			t.Fatalf("%s after the period: the session ended (%d)", b.name, st)
		}
	}
}

// The migration switch flips at run time through the admin API, on the
// node that answers only: two nodes on one store, one switched off, the
// other still migrating; the state is a metric on each and every switch an
// audit log line.
func TestMigration_SwitchedAtRunTimeThroughTheAdminAPIPerNode(t *testing.T) {
	old := legacyBackend(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app saw "+r.Header.Get("X-User-Id"))
	}))
	defer app.Close()
	up, _ := url.Parse(app.URL)
	logs := &testenv.Buffer{}
	one, st := withStore(t, options{legacyURL: old.URL, admin: adminToken, metrics: true, upstream: up, logs: logs})
	two := start(t, options{store: st, legacyURL: old.URL, admin: adminToken, metrics: true})
	gauge := func(s *testServer) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^sessiond_migration_enabled (\d)$`).FindStringSubmatch(s.do(t, "GET", "/metrics", "").body)
		if m == nil {
			t.Fatal("/metrics has no sessiond_migration_enabled")
		}
		return m[1]
	}
	if r := one.admin(t, "GET", "/admin/v1/migration", ""); r.status != 200 || r.body != `{"enabled":true,"scope":"node"}`+"\n" {
		t.Fatalf("GET /admin/v1/migration: %d %q", r.status, r.body)
	}
	if g := gauge(one); g != "1" {
		t.Fatalf("node one before the switch: sessiond_migration_enabled %s", g)
	}

	if r := one.admin(t, "PUT", "/admin/v1/migration", `{"enabled":false}`); r.status != 200 || r.body != `{"enabled":false,"scope":"node"}`+"\n" {
		t.Fatalf("PUT /admin/v1/migration off: %d %q", r.status, r.body)
	}
	// Off: legacy cookies are left alone, by the API and by the proxy.
	if r := one.do(t, "POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-off"); r.status != 404 || len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("node one switched off, POST /api/auth/migrate-session: %d, Set-Cookie %q", r.status, r.header.Values("Set-Cookie"))
	}
	res := one.doNoRedirect(t, "GET", "/page", "Cookie", "dott_auth_session=good-off")
	if res.StatusCode != 200 || len(res.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("node one switched off, GET /page through the proxy: %d, Set-Cookie %q (want the application, cookies untouched)", res.StatusCode, res.Header.Values("Set-Cookie"))
	}
	if r := one.admin(t, "GET", "/admin/v1/migration", ""); r.body != `{"enabled":false,"scope":"node"}`+"\n" {
		t.Fatalf("GET /admin/v1/migration after the switch: %q", r.body)
	}
	if g1, g2 := gauge(one), gauge(two); g1 != "0" || g2 != "1" {
		t.Fatalf("sessiond_migration_enabled: node one %s (switched off), node two %s (untouched)", g1, g2)
	}
	// The other node was not switched: it still migrates.
	if r := two.do(t, "POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-two"); r.status != 200 {
		t.Fatalf("node two (not switched) did not migrate: %d %s", r.status, r.body)
	}
	if !strings.Contains(logs.String(), `msg=audit event=migration_switched enabled=false was=true via=admin_api`) {
		t.Fatalf("no audit line for the switch in node one's log:\n%s", logs)
	}

	if r := one.admin(t, "PUT", "/admin/v1/migration", `{"enabled":true}`); r.status != 200 {
		t.Fatalf("PUT /admin/v1/migration on: %d %s", r.status, r.body)
	}
	if r := one.do(t, "POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-off"); r.status != 200 {
		t.Fatalf("node one switched on again did not migrate: %d %s", r.status, r.body)
	}
	if g := gauge(one); g != "1" {
		t.Fatalf("node one switched on again: sessiond_migration_enabled %s", g)
	}
	if !strings.Contains(logs.String(), `msg=audit event=migration_switched enabled=true was=false via=admin_api`) {
		t.Fatalf("no audit line for switching back in node one's log:\n%s", logs)
	}
	for _, body := range []string{`{}`, `{"enabled":"off"}`, `{"enabled":true,"extra":1}`} {
		if r := one.admin(t, "PUT", "/admin/v1/migration", body); r.status != 400 {
			t.Fatalf("PUT /admin/v1/migration %s: %d, want 400", body, r.status)
		}
	}
	if g := gauge(one); g != "1" {
		t.Fatalf("a refused PUT changed the switch: sessiond_migration_enabled %s", g)
	}
}

// countingBackend validates dott_auth_session=good-* as legacyBackend does,
// and records how often it was asked and which cookie names it was sent.
type countingBackend struct {
	*httptest.Server
	mu    sync.Mutex
	calls int
	names map[string]bool
}

func newCountingBackend(t *testing.T) *countingBackend {
	b := &countingBackend{names: map[string]bool{}}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.calls++
		for _, c := range r.Cookies() {
			b.names[c.Name] = true
		}
		b.mu.Unlock()
		c, err := r.Cookie("dott_auth_session")
		if err != nil || !strings.HasPrefix(c.Value, "good-") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"user_id": "legacy-" + c.Value, "email": c.Value + "@example.com", "tenant_id": "acme"})
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *countingBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// With --migrate-on-get, GET /api/auth/session-v2 migrates a request that
// carries legacy cookies and no valid session, so a single-page app reads
// its session at once: the parallel reads of one page load share one call
// to the old backend and one session, a replay after the share window is
// refused, failed credentials are limited per address. Legacy cookie names
// are patterns here (dott_*, s*), which never take the session cookie nor
// the application's own cookies.
func TestMigration_OnGETWithCookiePatterns_SEC25(t *testing.T) {
	old := newCountingBackend(t)
	clk := &clock{t: time.Now()}
	s := start(t, options{legacyURL: old.URL, clock: clk, deps: func(d *server.Deps) { d.MigrateOnGet = true },
		migrator: func(m *sessionhttp.Migrator) {
			m.CookieNames = []string{"dott_*", "s*"}
			m.CredentialNames = []string{"dott_auth_session"}
			m.Now = clk.Now
			m.Attempts = m.Store.(sessiond.CounterStore)
			m.AttemptBackoff = sessiond.Backoff{Free: 2, Base: time.Second, Max: time.Minute}
		}})
	get := func(cookie string) response {
		t.Helper()
		return s.do(t, "GET", sessionPath, "", "Cookie", cookie)
	}

	// No legacy cookie: no migration, the old backend is not asked. The
	// session cookie (matched by s*) and the application's cookies are
	// not legacy cookies.
	for _, cookie := range []string{"theme=dark", "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; theme=dark"} {
		if r := get(cookie); r.status != 401 {
			t.Fatalf("GET with %q: %d, want 401", cookie, r.status)
		}
	}
	if n := old.count(); n != 0 {
		t.Fatalf("the old backend was asked %d times for requests without legacy cookies", n)
	}

	// One page load: eight parallel reads with the same legacy cookies (and
	// a stale session cookie, which is neither legacy nor sent on).
	const page = "dott_auth_session=good-a; dott_onboarding=done; session_token=t-1; theme=dark; sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	var wg sync.WaitGroup
	answers := make([]response, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", s.url+sessionPath, nil)
			req.Header.Set("Cookie", page)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("read %d: %v", i, err)
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			answers[i] = response{status: res.StatusCode, header: res.Header, body: string(b)}
		}()
	}
	wg.Wait()
	var id string
	for i, r := range answers {
		if r.status != 200 {
			t.Fatalf("parallel read %d of one page load: %d %s", i, r.status, r.body)
		}
		sess := r.json(t)["session"].(map[string]any)["id"].(string)
		if id == "" {
			id = sess
		}
		if sess != id || !strings.Contains(r.body, `"email":"good-a@example.com"`) {
			t.Fatalf("parallel read %d: session %s, read 0 had %s: %s", i, sess, id, r.body)
		}
		cookies := strings.Join(r.header.Values("Set-Cookie"), "\n")
		for _, name := range []string{"dott_auth_session", "dott_onboarding", "session_token"} {
			if !strings.Contains(cookies, name+"=; Path=/; Max-Age=0") || !strings.Contains(cookies, name+"=; Path=/; Domain=example.com; Max-Age=0") {
				t.Fatalf("read %d did not expire the legacy cookie %s: %q", i, name, cookies)
			}
		}
		if strings.Contains(cookies, "theme=") || strings.Contains(cookies, "sid=;") || !strings.HasPrefix(r.header.Values("Set-Cookie")[len(r.header.Values("Set-Cookie"))-1], "sid=") {
			t.Fatalf("read %d: Set-Cookie %q (want the legacy cookies expired, then the new sid; theme untouched)", i, cookies)
		}
	}
	if n := old.count(); n != 1 {
		t.Fatalf("eight parallel reads of one page load asked the old backend %d times, want 1", n)
	}
	old.mu.Lock()
	if old.names["theme"] || old.names["sid"] || !old.names["dott_onboarding"] || !old.names["session_token"] {
		t.Errorf("the old backend was sent the cookies %v: want the legacy ones (dott_*, s*) only", old.names)
	}
	old.mu.Unlock()

	// After the share window, the same legacy credential is a replay: 401,
	// its cookies expired, nothing asked.
	clk.Advance(31 * time.Second)
	if r := get("dott_auth_session=good-a"); r.status != 401 || !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), "dott_auth_session=; Path=/; Max-Age=0") {
		t.Fatalf("a replay of a migrated credential: %d, Set-Cookie %q", r.status, r.header.Values("Set-Cookie"))
	}
	if n := old.count(); n != 1 {
		t.Fatalf("a replay asked the old backend (%d calls)", n)
	}

	// Credentials that do not migrate: two free from this address, then 429.
	for i, want := range []int{401, 401, 429} {
		r := get("dott_auth_session=bad-" + strconv.Itoa(i))
		if r.status != want {
			t.Fatalf("invalid legacy credential %d: %d %s, want %d", i, r.status, r.body, want)
		}
		if want == 429 && r.header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After")
		}
	}
	if n := old.count(); n != 3 {
		t.Fatalf("the old backend was asked %d times, want 3 (the throttled credential is not sent)", n)
	}

	// Without --migrate-on-get, a read with legacy cookies is 401 and asks
	// nothing.
	plain := start(t, options{legacyURL: old.URL})
	if r := plain.do(t, "GET", sessionPath, "", "Cookie", "dott_auth_session=good-b"); r.status != 401 {
		t.Fatalf("GET without --migrate-on-get: %d, want 401", r.status)
	}
	if n := old.count(); n != 3 {
		t.Fatalf("GET without --migrate-on-get asked the old backend")
	}
}

// A kept legacy credential of a device whose session was revoked during
// the shadow period meets the replay guard however late it comes back
// within the period plus the guard's retention: it mints no new session
// and has its cookies expired (review finding: the guard forgot it 30 days
// after the migration, whatever the period, and the device got a new
// session from a cookie kept only for a rollback).
func TestMigration_AKeptCredentialOfARevokedSessionNeverMigratesAgain_SEC25(t *testing.T) {
	const keep = 7 * 24 * time.Hour
	old := legacyBackend(t)
	migrated := time.Now()
	clk := &clock{t: migrated}
	s := start(t, options{legacyURL: old.URL, clock: clk, cookie: sessionhttp.CookieConfig{Insecure: true},
		migrator: func(m *sessionhttp.Migrator) { m.KeepLegacy = keep; m.Now = clk.Now }})
	lost := newBrowser(t, "lost", s.url, "dott_auth_session", "good-lost")
	if st, body := lost.do(t, "POST", s.url+"/api/auth/migrate-session"); st != 200 {
		t.Fatalf("POST /api/auth/migrate-session: %d %s", st, body)
	}
	if n, err := s.manager.RevokeUser(context.Background(), "legacy-1", ""); err != nil || n != 1 {
		t.Fatalf("revoking the migrated user's sessions: %d, %v", n, err)
	}
	for _, after := range []time.Duration{24 * time.Hour, 31 * 24 * time.Hour} {
		clk.Advance(after - clk.Now().Sub(migrated))
		st, body := lost.do(t, "POST", s.url+"/api/auth/migrate-session")
		if st != 401 {
			t.Fatalf("%v after the migration, the revoked device's kept legacy cookie: POST /api/auth/migrate-session = %d %s, want 401 (replay)", after, st, body)
		}
		if v := lost.cookie(s.url, "dott_auth_session"); v != "" {
			t.Fatalf("%v after the migration: the refused legacy cookie was left: %q", after, v)
		}
		lost = newBrowser(t, "lost", s.url, "dott_auth_session", "good-lost") // the cookie copied before it was expired
	}
}

// A logout expires the legacy cookies also while migration is switched off,
// which is the rollback itself (review finding: it left them, and the old
// backend would have logged the user in again).
func TestMigration_ALogoutWhileSwitchedOffExpiresTheKeptLegacyCookies_SEC25(t *testing.T) {
	old := legacyBackend(t)
	var mig *sessionhttp.Migrator
	s := start(t, options{legacyURL: old.URL, cookie: sessionhttp.CookieConfig{Insecure: true},
		migrator: func(m *sessionhttp.Migrator) { m.KeepLegacy = 7 * 24 * time.Hour; mig = m }})
	b := newBrowser(t, "laptop", s.url, "dott_auth_session", "good-laptop")
	if st, body := b.do(t, "POST", s.url+"/api/auth/migrate-session"); st != 200 {
		t.Fatalf("POST /api/auth/migrate-session: %d %s", st, body)
	}
	mig.SetEnabled(false)
	if st, _ := b.do(t, "DELETE", s.url+sessionPath); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if v := b.cookie(s.url, "dott_auth_session"); v != "" {
		t.Fatalf("a logout while migration is off left the legacy cookie %q", v)
	}
	if st, _ := b.do(t, "GET", old.URL); st != 401 {
		t.Fatalf("after the logout the old backend answered %d, want 401: a rollback would log this browser in again", st)
	}
}
