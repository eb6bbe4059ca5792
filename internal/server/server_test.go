package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/password"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/sqlitestore"
)

// probe wraps the real store to count lookups and to fail on demand.
type probe struct {
	sessiond.Store
	lookups  atomic.Int64
	counters atomic.Int64
	down     atomic.Bool
}

func (p *probe) Counter(ctx context.Context, key string, now time.Time) (int64, time.Time, error) {
	p.counters.Add(1)
	return p.Store.Counter(ctx, key, now)
}

func (p *probe) IncrementCounter(ctx context.Context, key string, now time.Time, ttl time.Duration) (int64, error) {
	p.counters.Add(1)
	return p.Store.IncrementCounter(ctx, key, now, ttl)
}

var errDown = errors.New("dial tcp: connection refused")

func (p *probe) SessionByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, error) {
	p.lookups.Add(1)
	if p.down.Load() {
		return nil, errDown
	}
	return p.Store.SessionByTokenHash(ctx, h)
}

func (p *probe) CreateSession(ctx context.Context, s *sessiond.Session) error {
	if p.down.Load() {
		return errDown
	}
	return p.Store.CreateSession(ctx, s)
}

func (p *probe) UserByEmailKey(ctx context.Context, k string) (*sessiond.User, error) {
	if p.down.Load() {
		return nil, errDown
	}
	return p.Store.UserByEmailKey(ctx, k)
}

func (p *probe) Ping(ctx context.Context) error {
	if p.down.Load() {
		return errDown
	}
	return p.Store.Ping(ctx)
}

// clock is a settable clock for the Manager: tests of windows and back-off
// move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testServer struct {
	clock    *clock
	handler  http.Handler
	url      string
	store    *probe
	manager  *sessiond.Manager
	accounts *accounts.Service
}

type options struct {
	cache   bool
	clock   *clock
	config  func(*sessiond.Config)
	proxies []netip.Prefix
	admin   string
	store   sessiond.Store // shared with another test server: a second node
	// legacyURL turns on legacy migration against that validation URL;
	// migrator, when set, then adjusts the Migrator.
	legacyURL string
	migrator  func(*sessionhttp.Migrator)
	upstream  *url.URL
	loginURL  string
	metrics   bool
	origins   []string
	hasher    *password.Hasher
	cookie    sessionhttp.CookieConfig
	logs      io.Writer // the server's log (none: discarded)
	// deps, when set, adjusts the server's dependencies (stream limits).
	deps func(*server.Deps)
	// throttle configures login throttling (zero: the defaults).
	throttle accounts.Throttle
}

const (
	userEmail    = "ann@example.com"
	userPassword = "correct horse battery staple"
)

func start(t *testing.T, o options) *testServer {
	t.Helper()
	var st sessiond.Store = o.store
	if st == nil {
		sq, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st = sq
	}
	p := &probe{Store: st}
	cacheSize := -1
	if o.cache {
		cacheSize = 0 // the default size
	}
	if o.clock == nil {
		o.clock = &clock{t: time.Now()}
	}
	cfg := sessiond.Config{CacheSize: cacheSize, Logger: slog.New(slog.DiscardHandler), Now: o.clock.Now}
	if o.config != nil {
		o.config(&cfg)
	}
	m := sessiond.NewManager(p, cfg)
	if o.hasher == nil {
		o.hasher = password.New(password.Options{})
	}
	acc := accounts.New(p, m, o.hasher, o.throttle)
	cookies, err := sessionhttp.NewCookies(o.cookie)
	if err != nil {
		t.Fatal(err)
	}
	deps := server.Deps{
		Manager: m, Accounts: acc, Cookies: cookies, AllowedOrigins: o.origins, Logger: slog.New(slog.DiscardHandler),
		TrustedProxies: o.proxies, AdminToken: o.admin, Now: o.clock.Now, Upstream: o.upstream, LoginURL: o.loginURL,
	}
	if o.logs != nil {
		deps.Logger = slog.New(slog.NewTextHandler(o.logs, nil))
	}
	if o.deps != nil {
		o.deps(&deps)
	}
	if o.metrics {
		deps.Metrics = metrics.New(m.CacheLen)
	}
	if o.legacyURL != "" {
		deps.Migrator = &sessionhttp.Migrator{Sessions: &sessionhttp.Sessions{Manager: m, Cookies: cookies, Client: sessionhttp.ClientFrom(o.proxies...)},
			Store: p, Validator: &sessionhttp.HTTPValidator{URL: o.legacyURL},
			CookieNames: []string{"dott_auth_session", "session_token", "onboarding_status"}, CookieDomain: "example.com",
			Logger: slog.New(slog.DiscardHandler), Users: acc}
		if deps.Metrics != nil {
			deps.Migrator.Observe = deps.Metrics.Migration
		}
		if o.migrator != nil {
			o.migrator(deps.Migrator)
		}
	}
	h := server.NewServer(deps)
	ts := httptest.NewUnstartedServer(h)
	ts.Config.MaxHeaderBytes = 64 << 10
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		m.Close()
		if o.store == nil {
			st.Close()
		}
	})
	_, err = acc.AddUser(context.Background(), accounts.UserParams{Email: userEmail, Password: userPassword, TenantID: "acme", NeedsOnboarding: true, OnboardingStep: "profile"})
	if err != nil && !(o.store != nil && errors.Is(err, sessiond.ErrConflict)) {
		t.Fatal(err)
	}
	return &testServer{clock: o.clock, handler: h, url: ts.URL, store: p, manager: m, accounts: acc}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return v
}

// do sends a request; headers is a list of name, value pairs.
func (s *testServer) do(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("%s %s answered %d: %s", method, path, res.StatusCode, b)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

const sessionPath = "/api/auth/session-v2"

// raw sends a hand-written GET with the given Cookie header bytes, for values
// that net/http's client refuses to send, and returns the status.
func (s *testServer) raw(t *testing.T, cookie string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nConnection: close\r\n\r\n", sessionPath, cookie)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response to Cookie %q: %v", cookie, err)
	}
	res.Body.Close()
	if res.StatusCode >= 500 {
		t.Fatalf("Cookie %q: %d", cookie, res.StatusCode)
	}
	return res.StatusCode
}

func loginBody(email, pw string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return string(b)
}

// login logs in and returns the token from Set-Cookie.
func (s *testServer) login(t *testing.T, extra ...string) string {
	t.Helper()
	r := s.do(t, "POST", sessionPath, loginBody(userEmail, userPassword), append([]string{"Content-Type", "application/json"}, extra...)...)
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	return sidFrom(t, r)
}

func sidFrom(t *testing.T, r response) string {
	t.Helper()
	cookies := r.header.Values("Set-Cookie")
	if len(cookies) != 1 {
		t.Fatalf("Set-Cookie headers: %q, want exactly one", cookies)
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(cookies[0], "sid="), ";")
	return v
}

func (s *testServer) get(t *testing.T, token string) response {
	t.Helper()
	return s.do(t, "GET", sessionPath, "", "Cookie", "sid="+token)
}

func TestLogin_SetsOneCookieWithTheRequiredAttributes_SEC04(t *testing.T) {
	s := start(t, options{})
	r := s.do(t, "POST", sessionPath, loginBody(userEmail, userPassword), "Content-Type", "application/json")
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	token := sidFrom(t, r)
	if !sessiond.ValidToken(token) {
		t.Fatalf("cookie value %q is not a 36-character token", token)
	}
	c := r.header.Get("Set-Cookie")
	for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(c, "; "+attr) {
			t.Errorf("Set-Cookie %q lacks %s", c, attr)
		}
	}
	if strings.Contains(c, "Domain=") {
		t.Errorf("Set-Cookie %q has a Domain though none is configured", c)
	}
	if !strings.Contains(c, "; Max-Age=86399") && !strings.Contains(c, "; Max-Age=86400") {
		t.Errorf("Set-Cookie %q: Max-Age should be the 24h lifetime", c)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	body := r.json(t)
	user := body["user"].(map[string]any)
	if body["authenticated"] != true || user["email"] != userEmail || user["tenant_id"] != "acme" ||
		user["needs_onboarding"] != true || user["onboarding_step"] != "profile" {
		t.Fatalf("login body %s", r.body)
	}
	sess := body["session"].(map[string]any)
	for _, k := range []string{"id", "created_at", "last_activity", "expires_at", "ip_address", "user_agent", "device"} {
		if _, ok := sess[k]; !ok {
			t.Errorf("session lacks %q", k)
		}
	}
	if strings.Contains(r.body, token) {
		t.Fatal("the token appears in the response body")
	}
}

func TestGetSession_FreshFromTheServer(t *testing.T) {
	s := start(t, options{})
	token := s.login(t)
	r := s.get(t, token)
	if r.status != http.StatusOK || r.json(t)["user"].(map[string]any)["email"] != userEmail {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	if r := s.do(t, "GET", sessionPath, ""); r.status != http.StatusUnauthorized || r.json(t)["error"] != "unauthenticated" {
		t.Fatalf("GET without cookie: %d %s", r.status, r.body)
	}
}

func TestLogin_MintsANewTokenAndRevokesThePresentedOne_SEC06(t *testing.T) {
	s := start(t, options{})
	first := s.login(t)
	second := s.login(t, "Cookie", "sid="+first)
	if second == first {
		t.Fatal("login kept the presented token")
	}
	if r := s.get(t, first); r.status != http.StatusUnauthorized {
		t.Fatalf("presented token after login: %d, want 401", r.status)
	}
	if r := s.get(t, second); r.status != http.StatusOK {
		t.Fatalf("new token: %d, want 200", r.status)
	}
}

func TestLogout_DeletesTheRecordAndExpiresTheCookie_SEC10(t *testing.T) {
	s := start(t, options{})
	token := s.login(t)
	r := s.do(t, "DELETE", sessionPath, "", "Cookie", "sid="+token)
	if r.status != http.StatusNoContent {
		t.Fatalf("logout: %d", r.status)
	}
	c := r.header.Get("Set-Cookie")
	if !strings.HasPrefix(c, "sid=;") || !strings.Contains(c, "Max-Age=0") || !strings.Contains(c, "Path=/") ||
		!strings.Contains(c, "HttpOnly") || !strings.Contains(c, "Secure") || !strings.Contains(c, "SameSite=Lax") {
		t.Fatalf("logout Set-Cookie %q does not expire the cookie with its attributes", c)
	}
	if r := s.get(t, token); r.status != http.StatusUnauthorized {
		t.Fatalf("token after logout: %d, want 401", r.status)
	}
	if list, _ := s.manager.List(context.Background(), s.userID(t)); len(list) != 0 {
		t.Fatalf("%d sessions left after logout", len(list))
	}
	if r := s.do(t, "DELETE", sessionPath, ""); r.status != http.StatusNoContent {
		t.Fatalf("logout without a session: %d, want 204", r.status)
	}
}

func (s *testServer) userID(t *testing.T) string {
	u, err := s.accounts.UserByEmail(context.Background(), userEmail)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestLogin_FailuresLookAlike_SEC15(t *testing.T) {
	s := start(t, options{})
	if _, _, err := s.accounts.SetDisabled(context.Background(), userEmail, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.accounts.AddUser(context.Background(), accounts.UserParams{Email: "bob@example.com", Password: "bob's password"}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"unknown user":   loginBody("nobody@example.com", "whatever1"),
		"wrong password": loginBody("bob@example.com", "not bob's password"),
		"disabled user":  loginBody(userEmail, userPassword),
	}
	var bodies []string
	for name, body := range cases {
		r := s.do(t, "POST", sessionPath, body, "Content-Type", "application/json")
		if r.status != http.StatusUnauthorized || len(r.header.Values("Set-Cookie")) != 0 {
			t.Fatalf("%s: %d %q", name, r.status, r.header.Values("Set-Cookie"))
		}
		bodies = append(bodies, r.body)
	}
	sort.Strings(bodies)
	if bodies[0] != bodies[len(bodies)-1] {
		t.Fatalf("failure bodies differ: %q", bodies)
	}
}

func TestLogin_UnknownUserCostsAPasswordCheck_SEC16(t *testing.T) {
	s := start(t, options{})
	// The work of a login is measured as the memory it allocates, not as
	// time, which a busy machine blurs: one argon2id check allocates its
	// 19 MiB whatever the load, and a login that skipped it would allocate
	// a few kilobytes. The server runs in this process.
	cost := func(email string) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s.do(t, "POST", sessionPath, loginBody(email, "wrong password"), "Content-Type", "application/json")
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	known, unknown := cost(userEmail), cost("nobody@example.com")
	t.Logf("allocated by a failed login: known user %d KiB, unknown user %d KiB", known>>10, unknown>>10)
	if unknown < known*9/10 || unknown < 19<<20 {
		t.Fatalf("an unknown user's login allocated %d KiB, a known user's %d KiB: without the same password check, timing reveals which exists", unknown>>10, known>>10)
	}
}

func TestLogin_HugePasswordIsRejectedBeforeHashing_SEC17(t *testing.T) {
	s := start(t, options{})
	huge := strings.Repeat("p", password.MaxLength+1)
	start := time.Now()
	r := s.do(t, "POST", sessionPath, loginBody(userEmail, huge), "Content-Type", "application/json")
	if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_input" {
		t.Fatalf("password of %d bytes: %d %s, want 400 invalid_input", len(huge), r.status, r.body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	// A password at the maximum is checked as it is, never truncated.
	exact := strings.Repeat("p", password.MaxLength)
	if r := s.do(t, "POST", sessionPath, loginBody(userEmail, exact), "Content-Type", "application/json"); r.status != http.StatusUnauthorized {
		t.Fatalf("password of %d bytes: %d, want 401", len(exact), r.status)
	}
}

func TestLogin_FloodGetsAFast503WhenHashingIsSaturated_SEC18(t *testing.T) {
	// Throttling would refuse most of the flood before any hashing
	// (SEC-29): this test is about the hashing slots.
	s := start(t, options{hasher: password.New(password.Options{Concurrency: 1, Queue: 1, MaxWait: time.Minute}),
		throttle: accounts.Throttle{AccountAttempts: 100, AddressAttempts: 100}})
	var wg sync.WaitGroup
	var busy, other atomic.Int64
	for range 12 {
		wg.Go(func() {
			r := s.do(t, "POST", sessionPath, loginBody(userEmail, "wrong password"), "Content-Type", "application/json")
			switch r.status {
			case http.StatusServiceUnavailable:
				if r.json(t)["error"] != "busy" || r.header.Get("Retry-After") == "" {
					t.Errorf("503 body %s, Retry-After %q", r.body, r.header.Get("Retry-After"))
				}
				busy.Add(1)
			case http.StatusUnauthorized:
				other.Add(1)
			default:
				t.Errorf("status %d", r.status)
			}
		})
	}
	wg.Wait()
	if busy.Load() == 0 {
		t.Fatalf("12 parallel logins with 1 hashing slot and a queue of 1: none got 503")
	}
	t.Logf("%d busy, %d checked", busy.Load(), other.Load())
}

func TestStateChangingRoutes_RejectCrossSiteRequests_SEC13(t *testing.T) {
	s := start(t, options{origins: []string{"https://app.example.com"}})
	token := s.login(t)
	js := []string{"Content-Type", "application/json"}
	cases := []struct {
		name    string
		method  string
		body    string
		headers []string
		want    int
	}{
		{"login from another site", "POST", loginBody(userEmail, userPassword), append(js, "Sec-Fetch-Site", "cross-site"), 403},
		{"login with a foreign Origin", "POST", loginBody(userEmail, userPassword), append(js, "Origin", "https://evil.example"), 403},
		{"logout from another site", "DELETE", "", []string{"Sec-Fetch-Site", "cross-site", "Cookie", "sid=" + token}, 403},
		{"patch from another site", "PATCH", `{"data":{}}`, append(js, "Sec-Fetch-Site", "cross-site", "Cookie", "sid="+token), 403},
		{"login from the trusted front end", "POST", loginBody(userEmail, userPassword), append(js, "Origin", "https://app.example.com", "Sec-Fetch-Site", "cross-site"), 200},
		{"same-origin login", "POST", loginBody(userEmail, userPassword), append(js, "Sec-Fetch-Site", "same-origin"), 200},
		{"cross-site read is allowed", "GET", "", []string{"Sec-Fetch-Site", "cross-site", "Cookie", "sid=" + token}, 200},
	}
	for _, c := range cases {
		r := s.do(t, c.method, sessionPath, c.body, c.headers...)
		if r.status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.want)
		}
	}
	if r := s.get(t, token); r.status != http.StatusOK {
		t.Fatalf("a denied cross-site logout ended the session: %d", r.status)
	}
	r := s.do(t, "GET", sessionPath, "", "Origin", "https://app.example.com", "Cookie", "sid="+token)
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("CORS for the configured origin: %v", r.header)
	}
	r = s.do(t, "GET", sessionPath, "", "Origin", "https://evil.example", "Cookie", "sid="+token)
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS granted to an unknown origin")
	}
	r = s.do(t, "OPTIONS", sessionPath, "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
	if r.status != http.StatusNoContent || !strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
}

func TestCookie_HostileValuesAre401WithoutAStoreLookup_SEC02(t *testing.T) {
	s := start(t, options{})
	values := []string{
		"", "x", "null", "' OR '1'='1", "1; DROP TABLE sessions", "../../etc/passwd", "%00",
		strings.Repeat("A", 35), strings.Repeat("A", 37), strings.Repeat("A", 34) + "==",
		strings.Repeat("A", 34) + "+/", `"` + strings.Repeat("A", 36) + `"`,
		strings.Repeat("A", 35) + "\x7f", strings.Repeat("A", 34) + "é", strings.Repeat("A", 4096),
	}
	before := s.store.lookups.Load()
	for _, v := range values {
		// net/http itself refuses some bytes in headers with a 400;
		// everything else must reach us and be a 401.
		if status := s.raw(t, "sid="+v); status != http.StatusUnauthorized && !(status == http.StatusBadRequest && strings.ContainsAny(v, "\x7f")) {
			t.Errorf("sid=%q: %d, want 401", v, status)
		}
	}
	for _, header := range []string{"sid", "sid=", "=", ";;;", "sid ; sid", "other=" + strings.Repeat("A", 36), "SID=" + strings.Repeat("A", 36)} {
		if status := s.raw(t, header); status != http.StatusUnauthorized {
			t.Errorf("Cookie: %q: %d, want 401", header, status)
		}
	}
	if n := s.store.lookups.Load() - before; n != 0 {
		t.Fatalf("malformed cookies caused %d store lookups, want 0", n)
	}
	// Never from the URL or another header.
	token := s.login(t)
	for _, h := range [][]string{{"Authorization", "Bearer " + token}, {"X-Session-Id", token}, {"Cookie2", "sid=" + token}} {
		if r := s.do(t, "GET", sessionPath, "", h...); r.status != http.StatusUnauthorized {
			t.Errorf("token in %s: %d, want 401", h[0], r.status)
		}
	}
	if r := s.do(t, "GET", sessionPath+"?sid="+token, ""); r.status != http.StatusUnauthorized {
		t.Errorf("token in the query string: %d, want 401", r.status)
	}
}

func TestCookie_DuplicatesGiveAnAnswerIndependentOfOrder_SEC04(t *testing.T) {
	s := start(t, options{})
	a, b := s.login(t), s.login(t)
	garbage := strings.Repeat("Z", 36)
	cases := []struct {
		name  string
		pairs [2]string
		want  int
	}{
		{"valid and unknown", [2]string{a, garbage}, 200},
		{"valid and malformed", [2]string{a, "oops"}, 200},
		{"the same twice", [2]string{a, a}, 200},
		{"two valid sessions", [2]string{a, b}, 401},
	}
	for _, c := range cases {
		one := s.do(t, "GET", sessionPath, "", "Cookie", "sid="+c.pairs[0]+"; sid="+c.pairs[1])
		two := s.do(t, "GET", sessionPath, "", "Cookie", "sid="+c.pairs[1]+"; sid="+c.pairs[0])
		split := s.do(t, "GET", sessionPath, "", "Cookie", "sid="+c.pairs[1], "Cookie", "sid="+c.pairs[0])
		if one.status != c.want || two.status != c.want || split.status != c.want {
			t.Errorf("%s: %d / %d / %d, want %d", c.name, one.status, two.status, split.status, c.want)
		}
	}
}

func TestCookie_ThousandsOfCookiesAndOversizedHeaders(t *testing.T) {
	s := start(t, options{})
	token := s.login(t)
	var many []string
	for i := range 3000 {
		many = append(many, "c"+strings.Repeat("x", i%7)+"=v")
	}
	many = append(many, "sid="+token)
	r := s.do(t, "GET", sessionPath, "", "Cookie", strings.Join(many, "; "))
	if r.status != http.StatusOK {
		t.Errorf("3000 cookies and a valid sid: %d, want 200", r.status)
	}
	var sids []string
	for range 50 {
		sids = append(sids, "sid="+strings.Repeat("Q", 36))
	}
	if r := s.do(t, "GET", sessionPath, "", "Cookie", strings.Join(sids, "; ")+"; sid="+token); r.status != http.StatusOK {
		t.Errorf("50 copies of one unknown sid and a valid one: %d, want 200", r.status)
	}
	if status := s.raw(t, "sid="+token+"; pad="+strings.Repeat("p", 70<<10)); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("70 KiB Cookie header: %d, want 431", status)
	}
}

func TestLoginBody_HostileInputIs4xxAndChangesNothing(t *testing.T) {
	s := start(t, options{})
	js := "application/json"
	cases := []struct {
		name, ctype, body string
		want              int
	}{
		{"no content type", "", loginBody(userEmail, userPassword), 415},
		{"form content type", "application/x-www-form-urlencoded", "email=a&password=b", 415},
		{"text/plain", "text/plain", loginBody(userEmail, userPassword), 415},
		{"latin-1 charset", "application/json; charset=iso-8859-1", loginBody(userEmail, userPassword), 415},
		{"empty body", js, "", 400},
		{"malformed", js, `{"email":`, 400},
		{"concatenated", js, loginBody(userEmail, userPassword) + loginBody(userEmail, userPassword), 400},
		{"trailing garbage", js, loginBody(userEmail, userPassword) + "x", 400},
		{"array", js, `[{"email":"ann@example.com"}]`, 400},
		{"string", js, `"ann@example.com"`, 400},
		{"null", js, `null`, 400},
		{"wrong type", js, `{"email":42,"password":"x"}`, 400},
		{"object password", js, `{"email":"ann@example.com","password":{"$gt":""}}`, 400},
		{"unknown field", js, `{"email":"ann@example.com","password":"x","admin":true}`, 400},
		{"deep nesting", js, `{"email":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, 400},
		{"invalid UTF-8", js, "{\"email\":\"ann\xff@example.com\",\"password\":\"x\"}", 400},
		{"NUL in email", js, `{"email":"ann\u0000@example.com","password":"x"}`, 400},
		{"raw NUL", js, "{\"email\":\"ann\x00@example.com\",\"password\":\"x\"}", 400},
		{"CRLF in email", js, `{"email":"ann@example.com\r\nX-Injected: 1","password":"x"}`, 400},
		{"huge email", js, loginBody(strings.Repeat("a", 300)+"@example.com", "x"), 400},
		{"not an email", js, loginBody("ann", "x"), 400},
		{"oversized body", js, `{"email":"` + strings.Repeat("a", 70<<10) + `"}`, 413},
	}
	for _, c := range cases {
		headers := []string{}
		if c.ctype != "" {
			headers = append(headers, "Content-Type", c.ctype)
		}
		r := s.do(t, "POST", sessionPath, c.body, headers...)
		if r.status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.want)
			continue
		}
		if e := r.json(t); e["error"] == "" || e["message"] == "" {
			t.Errorf("%s: error body %s lacks error or message", c.name, r.body)
		}
		if len(r.header.Values("Set-Cookie")) != 0 {
			t.Errorf("%s: set a cookie", c.name)
		}
	}
	if list, _ := s.manager.List(context.Background(), s.userID(t)); len(list) != 0 {
		t.Fatalf("hostile logins created %d sessions", len(list))
	}
}

func TestLogin_EmailsDifferingOnlyInCaseOrUnicodeFormAreOneAccount(t *testing.T) {
	s := start(t, options{})
	ctx := context.Background()
	nfc, nfd := "jos\u00e9@example.com", "jose\u0301@example.com"
	if _, err := s.accounts.AddUser(ctx, accounts.UserParams{Email: nfc, Password: "pässwörd-ñ"}); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{nfc, nfd, "JOS\u00c9@EXAMPLE.COM", " jos\u00e9@example.com "} {
		r := s.do(t, "POST", sessionPath, loginBody(email, "pässwörd-ñ"), "Content-Type", "application/json")
		if r.status != http.StatusOK {
			t.Errorf("login as %q: %d %s", email, r.status, r.body)
		}
	}
	for _, email := range []string{nfd, "ANN@EXAMPLE.COM"} {
		if _, err := s.accounts.AddUser(ctx, accounts.UserParams{Email: email, Password: "another password"}); !errors.Is(err, sessiond.ErrConflict) {
			t.Errorf("AddUser(%q) = %v, want ErrConflict", email, err)
		}
	}
}

func TestPatchSession_UpdatesDataWithOptimisticConcurrency(t *testing.T) {
	s := start(t, options{})
	token := s.login(t)
	hdr := []string{"Content-Type", "application/json", "Cookie", "sid=" + token}
	r := s.do(t, "PATCH", sessionPath, `{"data":{"onboarding":{"step":2},"theme":"dark"}}`, hdr...)
	if r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r = s.do(t, "PATCH", sessionPath, `{"data":{"theme":null},"version":1}`, hdr...)
	if r.status != http.StatusOK {
		t.Fatalf("patch at version 1: %d %s", r.status, r.body)
	}
	if r := s.get(t, token); !strings.Contains(r.body, `"data":{"onboarding":{"step":2}},"data_version":2`) {
		t.Fatalf("GET after patches: %s", r.body)
	}
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"data":{"x":1},"version":1}`, 409},
		{`{"data":[1,2]}`, 400},
		{`{"data":"x"}`, 400},
		{`{}`, 400},
		{`{"data":{"x":"` + strings.Repeat("y", 9000) + `"}}`, 400},
		{`{"data":{},"version":"1"}`, 400},
		{`{"data":{},"extra":1}`, 400},
	} {
		if r := s.do(t, "PATCH", sessionPath, c.body, hdr...); r.status != c.want {
			t.Errorf("PATCH %.60s: %d %s, want %d", c.body, r.status, r.body, c.want)
		}
	}
	if r := s.do(t, "PATCH", sessionPath, `{"data":{}}`, "Content-Type", "application/json"); r.status != http.StatusUnauthorized {
		t.Errorf("PATCH without a session: %d, want 401", r.status)
	}
}

func TestStoreOutage_Is503NeverALogoutOrALogin_SEC23(t *testing.T) {
	s := start(t, options{})
	token := s.login(t)
	s.store.down.Store(true)
	if r := s.get(t, token); r.status != http.StatusServiceUnavailable || len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("GET with the store down: %d %q, want 503 and the cookie kept", r.status, r.header.Values("Set-Cookie"))
	}
	r := s.do(t, "POST", sessionPath, loginBody(userEmail, userPassword), "Content-Type", "application/json")
	if r.status != http.StatusServiceUnavailable || len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("login with the store down: %d, cookies %q; want 503 and no cookie", r.status, r.header.Values("Set-Cookie"))
	}
	if strings.Contains(r.body, "refused") {
		t.Fatalf("503 body leaks internals: %s", r.body)
	}
	r = s.do(t, "DELETE", sessionPath, "", "Cookie", "sid="+token)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout with the store down: %d %q; want 503 and the cookie expired", r.status, r.header.Get("Set-Cookie"))
	}
	if r := s.do(t, "GET", "/readyz", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the store down: %d", r.status)
	}
	if r := s.do(t, "GET", "/healthz", ""); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}
	s.store.down.Store(false)
	if r := s.get(t, token); r.status != http.StatusOK {
		t.Fatalf("after the store came back: %d", r.status)
	}
}

func TestRoutes_UnknownPathsAndMethods(t *testing.T) {
	s := start(t, options{})
	if r := s.do(t, "PUT", sessionPath, "{}", "Content-Type", "application/json"); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
		t.Errorf("PUT: %d %v", r.status, r.header)
	}
	if r := s.do(t, "GET", "/nope", ""); r.status != http.StatusNotFound || r.json(t)["error"] != "not_found" {
		t.Errorf("unknown path: %d %s", r.status, r.body)
	}
}

// TestLogs_AStoreOutageIsAWarningAnAbandonedRequestIsNot: a store error is
// logged as a warning, but not when the client had already gone (wrk and
// browsers cancel requests all the time; that is no outage).
func TestLogs_AStoreOutageIsAWarningAnAbandonedRequestIsNot(t *testing.T) {
	var logs testenv.Buffer
	s := start(t, options{logs: &logs})
	token := s.login(t)
	s.store.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", sessionPath, nil)
	req.Header.Set("Cookie", "sid="+token)
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("abandoned GET with the store down: %d", w.Code)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("an abandoned request was logged as a warning:\n%s", logs.String())
	}
	if r := s.get(t, token); r.status != http.StatusServiceUnavailable {
		t.Fatalf("GET with the store down: %d", r.status)
	}
	if !strings.Contains(logs.String(), `level=WARN msg="request failed"`) {
		t.Fatalf("a store outage was not logged as a warning:\n%s", logs.String())
	}
}
