package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestForwardAuth_IdentityHeadersOr401_SEC24(t *testing.T) {
	s := start(t, options{})
	token := s.login(t)
	r := s.call(t, "GET", "/auth/verify", "", token)
	if r.status != 200 || r.header.Get("X-User-Id") != s.userID(t) || r.header.Get("X-User-Email") != userEmail ||
		r.header.Get("X-Tenant-Id") != "acme" || r.header.Get("X-Session-Id") == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("valid session: %d %v", r.status, r.header)
	}
	if r := s.call(t, "HEAD", "/auth/verify", "", token); r.status != 200 {
		t.Fatalf("HEAD: %d", r.status)
	}
	for name, h := range map[string][]string{
		"no cookie":       nil,
		"malformed":       {"Cookie", "sid=nope"},
		"unknown":         {"Cookie", "sid=" + strings.Repeat("A", 36)},
		"spoofed headers": {"X-User-Id", "admin", "X-Tenant-Id", "root", "X-Session-Id", "x", "X-User-Email", "boss@example.com"},
	} {
		r := s.do(t, "GET", "/auth/verify", "", h...)
		if r.status != 401 || r.header.Get("X-User-Id") != "" || r.header.Get("X-Tenant-Id") != "" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %v", name, r.status, r.header)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		if r := s.call(t, m, "/auth/verify", "", token); r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, r.status)
		}
	}
	// Spoofed identity headers next to a valid session: the answer carries
	// the session's identity, never the client's.
	r = s.call(t, "GET", "/auth/verify", "", token, "X-User-Id", "admin", "X-Tenant-Id", "root")
	if r.header.Get("X-User-Id") != s.userID(t) || len(r.header.Values("X-User-Id")) != 1 || r.header.Get("X-Tenant-Id") != "acme" {
		t.Fatalf("spoofed identity headers leaked: %v", r.header)
	}
	if r := s.call(t, "GET", "/auth/verify", "", token, "X-Forwarded-Uri", "/a\tb"); r.status != http.StatusBadRequest {
		t.Fatalf("control character in X-Forwarded-Uri: %d", r.status)
	}
	if list, _ := s.manager.List(t.Context(), s.userID(t)); len(list) != 1 {
		t.Fatalf("forward auth created sessions: %d", len(list))
	}
}

func TestForwardAuth_ForwardedAddressOnlyFromTrustedProxies_SEC24(t *testing.T) {
	s := start(t, options{proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	token := s.login(t)
	for _, xff := range []string{"203.0.113.9", "garbage", "203.0.113.9, 10.1.1.1", strings.Repeat("1.2.3.4, ", 500)} {
		r := s.call(t, "GET", "/auth/verify", "", token, "X-Forwarded-For", xff)
		if r.status != 200 {
			t.Fatalf("X-Forwarded-For %.40q: %d", xff, r.status)
		}
	}
	// The peer (127.0.0.1) is not a trusted proxy: nothing was flagged.
	if strings.Contains(s.get(t, token).body, "network_changed") {
		t.Fatal("X-Forwarded-For from an untrusted peer was believed")
	}
}

func TestForwardAuth_RedirectsOnlyToSafeTargets_SEC24(t *testing.T) {
	s := start(t, options{loginURL: "/login"})
	for target, want := range map[string]string{
		"/reports?x=1":          "/login?next=%2Freports%3Fx%3D1",
		"//evil.example/":       "/login",
		"https://evil.example/": "/login",
		"/%2F%2Fevil.example":   "/login",
	} {
		r := s.doNoRedirect(t, "GET", "/auth/verify?redirect=1&rd="+url.QueryEscape(target))
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != want {
			t.Errorf("rd=%q: %d to %q, want %q", target, r.StatusCode, r.Header.Get("Location"), want)
		}
	}
}

func (s *testServer) doNoRedirect(t *testing.T, method, path string, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// legacyBackend validates dott_auth_session=good-* and counts calls.
func legacyBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("dott_auth_session")
		if err != nil || !strings.HasPrefix(c.Value, "good-") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"user_id": "legacy-1", "email": "old@example.com", "tenant_id": "acme", "needs_onboarding": true, "onboarding_step": "billing"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestMigrateEndpoints_ManualAndForwarded_SEC25(t *testing.T) {
	s := start(t, options{legacyURL: legacyBackend(t).URL, metrics: true})
	r := s.do(t, "POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-1; onboarding_status=x")
	if r.status != 200 || !strings.Contains(r.body, `"email":"old@example.com"`) || !strings.Contains(r.body, `"onboarding_step":"billing"`) {
		t.Fatalf("manual migration: %d %s", r.status, r.body)
	}
	token := ""
	for _, c := range r.header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, "sid="); ok {
			token, _, _ = strings.Cut(v, ";")
		}
	}
	if token == "" || !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), "dott_auth_session=; Path=/; Domain=example.com; Max-Age=0") {
		t.Fatalf("cookies: %q", r.header.Values("Set-Cookie"))
	}
	if r := s.get(t, token); r.status != 200 || !strings.Contains(r.body, `"id":"legacy-1"`) {
		t.Fatalf("migrated session: %d %s", r.status, r.body)
	}
	if r := s.call(t, "GET", "/auth/verify", "", token); r.header.Get("X-User-Email") != "old@example.com" {
		t.Fatalf("forward auth of a migrated user: %v", r.header)
	}
	if r := s.do(t, "POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=bad"); r.status != 401 ||
		!strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ""), "Max-Age=0") {
		t.Fatalf("invalid legacy session: %d %q", r.status, r.header.Values("Set-Cookie"))
	}
	if r := s.do(t, "POST", "/api/auth/migrate-session", ""); r.status != 400 {
		t.Fatalf("no legacy cookie: %d", r.status)
	}
	if r := s.do(t, "POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-2", "Sec-Fetch-Site", "cross-site"); r.status != 403 {
		t.Fatalf("cross-site manual migration: %d", r.status)
	}

	// What nginx sends after a 401 from forward auth (error_page 401).
	res := s.doNoRedirect(t, "GET", "/auth/migrate", "Cookie", "dott_auth_session=good-3", "X-Forwarded-Uri", "/app/page?x=1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/app/page?x=1" {
		t.Fatalf("/auth/migrate: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = s.doNoRedirect(t, "GET", "/auth/migrate", "Cookie", "dott_auth_session=good-4", "X-Forwarded-Uri", "//evil.example/")
	if res.Header.Get("Location") != "/" {
		t.Fatalf("/auth/migrate to an unsafe target went to %q", res.Header.Get("Location"))
	}
	if res := s.doNoRedirect(t, "GET", "/auth/migrate"); res.StatusCode != 401 {
		t.Fatalf("/auth/migrate without legacy cookies: %d", res.StatusCode)
	}

	m := s.do(t, "GET", "/metrics", "")
	for _, want := range []string{`sessiond_legacy_migrations_total{outcome="migrated"}`, `sessiond_legacy_migrations_total{outcome="invalid"} 1`,
		`sessiond_http_requests_total{code="200",route="POST /api/auth/migrate-session"}`, "sessiond_http_request_duration_seconds_bucket",
		`sessiond_validations_total{outcome="valid"}`, `sessiond_validations_total{outcome="invalid"}`, "sessiond_cache_sessions"} {
		if !strings.Contains(m.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m.body, token) {
		t.Fatal("/metrics contains a token")
	}
}

func TestReverseProxy_SetsIdentityStripsSpoofsAndStreams_SEC24(t *testing.T) {
	type seen struct {
		user, tenant, email, session, cookie string
	}
	got := make(chan seen, 10)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
			return
		}
		got <- seen{r.Header.Get("X-User-Id"), r.Header.Get("X-Tenant-Id"), r.Header.Get("X-User-Email"), r.Header.Get("X-Session-Id"), r.Header.Get("Cookie")}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "app saw %s %s", r.URL.Path, body)
	}))
	defer app.Close()
	up, _ := url.Parse(app.URL)
	s := start(t, options{upstream: up, legacyURL: legacyBackend(t).URL})
	token := s.login(t)

	r := s.call(t, "POST", "/orders", `{"n":1}`, token, "X-User-Id", "admin", "X-Tenant-Id", "root", "Cookie", "theme=dark")
	if r.status != 200 || r.body != `app saw /orders {"n":1}` {
		t.Fatalf("proxied: %d %q", r.status, r.body)
	}
	v := <-got
	if v.user != s.userID(t) || v.tenant != "acme" || v.email != userEmail || v.session == "" {
		t.Fatalf("upstream saw identity %+v", v)
	}
	if strings.Contains(v.cookie, token) || !strings.Contains(v.cookie, "theme=dark") {
		t.Fatalf("upstream Cookie header %q: the session cookie must be stripped, others kept", v.cookie)
	}
	s.do(t, "GET", "/anonymous", "", "X-User-Id", "admin", "X-Session-Id", "forged")
	if v := <-got; v.user != "" || v.session != "" {
		t.Fatalf("spoofed identity reached the upstream without a session: %+v", v)
	}
	if r := s.get(t, token); r.status != 200 {
		t.Fatal("sessiond's own API is not served in proxy mode")
	}

	// Server-sent events stream through: the first event arrives before
	// the upstream has finished.
	req, _ := http.NewRequest("GET", s.url+"/events", nil)
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, _ := bufio.NewReader(res.Body).ReadString('\n')
	if line != "data: 0\n" || time.Since(start) > 90*time.Millisecond {
		t.Fatalf("first event %q after %v: the proxy buffers", line, time.Since(start))
	}

	// Legacy cookies through the proxy: one redirect, then only sid.
	res2 := s.doNoRedirect(t, "GET", "/page", "Cookie", "dott_auth_session=good-7")
	if res2.StatusCode != http.StatusSeeOther || res2.Header.Get("Location") != "/page" {
		t.Fatalf("legacy through the proxy: %d %q", res2.StatusCode, res2.Header.Get("Location"))
	}
}

func TestReverseProxy_UpstreamDownIs503(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	up, _ := url.Parse(dead.URL)
	dead.Close()
	s := start(t, options{upstream: up})
	if r := s.do(t, "GET", "/x", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("upstream down: %d", r.status)
	}
}

func TestReverseProxy_Websockets(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("X-User-Id") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		buf := make([]byte, 4)
		if _, err := io.ReadFull(rw, buf); err == nil {
			rw.Write(buf)
			rw.Flush()
		}
	}))
	defer app.Close()
	up, _ := url.Parse(app.URL)
	s := start(t, options{upstream: up, metrics: true})
	token := s.login(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: sid=%s\r\n\r\n", token)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade through the proxy: %v %v", res, err)
	}
	conn.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the upgraded connection: %q %v", buf, err)
	}
}

// TestForwardAuth_MigrateEndpointForCaddyAndTraefik_SEC24_SEC25:
// /auth/migrate, which Caddy and Traefik call as their forward-auth endpoint
// (they hand a refused answer to the browser), answers a valid session as
// /auth/verify does and migrates legacy cookies with a redirect back;
// /auth/verify itself never creates a session or redirects.
func TestForwardAuth_MigrateEndpointForCaddyAndTraefik_SEC24_SEC25(t *testing.T) {
	s := start(t, options{legacyURL: legacyBackend(t).URL})
	res := s.doNoRedirect(t, "GET", "/auth/verify", "Cookie", "dott_auth_session=good-1", "X-Forwarded-Uri", "/app/page?x=1")
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Set-Cookie") != "" {
		t.Fatalf("/auth/verify with legacy cookies: %d %q; want a bare 401", res.StatusCode, res.Header.Values("Set-Cookie"))
	}
	res = s.doNoRedirect(t, "GET", "/auth/migrate", "Cookie", "dott_auth_session=good-1; onboarding_status=x",
		"X-Forwarded-Uri", "/app/page?x=1", "X-Forwarded-Method", "GET")
	cookies := strings.Join(res.Header.Values("Set-Cookie"), "\n")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/app/page?x=1" ||
		!strings.Contains(cookies, "sid=") || !strings.Contains(cookies, "dott_auth_session=; Path=/; Max-Age=0") ||
		res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("/auth/migrate: %d to %q, cookies %s", res.StatusCode, res.Header.Get("Location"), cookies)
	}
	var token string
	for _, c := range res.Cookies() {
		if c.Name == "sid" {
			token = c.Value
		}
	}
	// With the new cookie (and the legacy one still sent), the same
	// endpoint answers as forward auth: 200 with the migrated identity.
	res = s.doNoRedirect(t, "GET", "/auth/migrate", "Cookie", "sid="+token+"; dott_auth_session=good-1", "X-User-Id", "admin")
	if res.StatusCode != 200 || res.Header.Get("X-User-Id") != "legacy-1" || len(res.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("/auth/migrate after migration: %d %q %q", res.StatusCode, res.Header.Get("X-User-Id"), res.Header.Values("Set-Cookie"))
	}
	// A form POST is replayed with 307.
	res = s.doNoRedirect(t, "GET", "/auth/migrate", "Cookie", "dott_auth_session=good-2", "X-Forwarded-Uri", "/orders", "X-Forwarded-Method", "POST")
	if res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != "/orders" {
		t.Fatalf("/auth/migrate for a POST: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Hostile input: an unsafe target goes to /, CRLF in a forwarded header
	// is refused before anything is minted, a forged cookie is cleared.
	res = s.doNoRedirect(t, "GET", "/auth/migrate", "Cookie", "dott_auth_session=good-3", "X-Forwarded-Uri", `/\evil.example/`)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("unsafe target: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = s.doNoRedirect(t, "GET", "/auth/migrate", "Cookie", "dott_auth_session=good-4", "X-Forwarded-Uri", "/a\tb")
	if res.StatusCode != http.StatusBadRequest || strings.Contains(strings.Join(res.Header.Values("Set-Cookie"), ""), "sid=") {
		t.Fatalf("control character in X-Forwarded-Uri: %d %q", res.StatusCode, res.Header.Values("Set-Cookie"))
	}
	res = s.doNoRedirect(t, "GET", "/auth/migrate", "Cookie", "dott_auth_session=forged")
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(strings.Join(res.Header.Values("Set-Cookie"), "\n"), "dott_auth_session=; Path=/; Max-Age=0") {
		t.Fatalf("forged legacy cookie: %d %q", res.StatusCode, res.Header.Values("Set-Cookie"))
	}
	// /auth/verify creates nothing, whatever the method or query.
	for _, target := range []string{"/auth/verify", "/auth/verify?migrate=1"} {
		for _, method := range []string{"GET", "POST"} {
			res := s.doNoRedirect(t, method, target, "Cookie", "dott_auth_session=good-5")
			if strings.Contains(strings.Join(res.Header.Values("Set-Cookie"), ""), "sid=") || res.StatusCode/100 == 3 {
				t.Fatalf("%s %s with legacy cookies: %d %q", method, target, res.StatusCode, res.Header.Values("Set-Cookie"))
			}
		}
	}
}
