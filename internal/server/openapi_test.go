package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/sqlitestore"
)

// The contract tests hold sessiond's real answers to openapi.json, both
// ways: every answer of every route that the tests provoke must match the
// document (status, headers, body; in strict mode, so that an undocumented
// header or field fails too), every answer the document lists must have
// been provoked and checked, and every route registered in routes.go must
// be in the document and every documented operation registered.

// contract validates exchanges against the document and records which
// documented answers were seen.
type contract struct {
	v     validator.Validator
	model *v3.Document
	opts  *config.ValidationOptions
	doc   struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}

	mu   sync.Mutex
	seen map[string]bool // "method template status"
}

// The free-form objects of the document: the application's session data,
// the user's attributes and an event's detail hold any keys.
var freeForm = []string{
	"$.body.data.**", "$.body.user.attributes.**", "$.body.users[*].attributes.**",
	"$.body.events[*].detail.**", "$.body.attributes**", "$.body[*].attributes**",
	// This document's own parts (GET /openapi.json).
	"$.body.info**", "$.body.servers**", "$.body.tags**", "$.body.security**", "$.body.paths**", "$.body.components**",
	// Cookie names are configuration (--cookie-name, --legacy-cookies).
	"$.cookies.*",
}

func newContract(t *testing.T) *contract {
	t.Helper()
	c := &contract{seen: map[string]bool{}}
	raw := []byte(sessiond.OpenAPI())
	if err := json.Unmarshal(raw, &c.doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("openapi.json as OpenAPI 3: %v", err)
	}
	c.model = &m.Model
	opts := []config.Option{config.WithStrictMode(), config.WithFormatAssertions(), config.WithStrictIgnorePaths(freeForm...)}
	c.opts = config.NewValidationOptions(opts...)
	v, errs := validator.NewValidator(doc, opts...)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	c.v = v
	return c
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request to the server at base, wants status, and validates
// the answer against the document; an answer meant as a success has its
// request validated too. headers are name, value pairs.
func (c *contract) do(t *testing.T, base string, want int, method, path, body string, headers ...string) response {
	t.Helper()
	if want < 400 {
		if ok, errs := c.v.ValidateHttpRequestSync(newRequest(t, base, method, path, body, headers)); !ok {
			t.Errorf("%s %s: the request itself is not as the document says: %s", method, path, describe(errs))
		}
	}
	began := time.Now()
	r := c.send(t, base, method, path, body, headers...)
	if r.status != want {
		t.Fatalf("%s %s answered %d after %v, want %d: %s", method, path, r.status, time.Since(began).Round(time.Millisecond), want, r.body)
	}
	return r
}

// send sends a request and validates the answer, whatever its status.
func (c *contract) send(t *testing.T, base, method, path, body string, headers ...string) response {
	t.Helper()
	req := newRequest(t, base, method, path, body, headers)
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	c.check(t, req, res, b)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func newRequest(t *testing.T, base, method, path, body string, headers []string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

// check validates an answer and records it as seen.
func (c *contract) check(t *testing.T, req *http.Request, res *http.Response, body []byte) {
	t.Helper()
	req.Body = http.NoBody
	if ok, errs := c.v.ValidateHttpResponse(req, res); !ok {
		t.Errorf("%s %s answered %d, not as the document says: %s\nheaders: %v\nbody: %s",
			req.Method, req.URL.RequestURI(), res.StatusCode, describe(errs), res.Header, body)
	}
	_, errs, tmpl := paths.FindPath(req, c.model, c.opts)
	if len(errs) > 0 {
		t.Errorf("%s %s is not in the document: %s", req.Method, req.URL.Path, describe(errs))
		return
	}
	c.mu.Lock()
	c.seen[strings.ToLower(req.Method)+" "+tmpl+" "+strconv.Itoa(res.StatusCode)] = true
	c.mu.Unlock()
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n  - ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// stream opens the event stream, validates its answer with the first event
// as the body, and returns a function that closes it.
func (c *contract) stream(t *testing.T, base, token string) (closeStream func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+sessionPath+"/stream", nil)
	req.Header.Set("Cookie", "sid="+token)
	if ok, errs := c.v.ValidateHttpRequestSync(req); !ok {
		t.Errorf("stream request: %s", describe(errs))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	closeStream = func() { cancel(); res.Body.Close() }
	if res.StatusCode != http.StatusOK {
		closeStream()
		t.Fatalf("stream: %d", res.StatusCode)
	}
	first, err := readEvent(bufio.NewReader(res.Body))
	if err != nil {
		closeStream()
		t.Fatalf("stream: no first event: %v", err)
	}
	c.check(t, req, &http.Response{StatusCode: res.StatusCode, Header: res.Header, Request: req,
		Body: io.NopCloser(strings.NewReader(first))}, []byte(first))
	return closeStream
}

func readEvent(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\n" {
			return b.String(), nil
		}
	}
}

// documented returns every "method template status" of the document.
func (c *contract) documented() []string {
	var out []string
	for p, item := range c.doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var o struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			json.Unmarshal(raw, &o)
			for status := range o.Responses {
				out = append(out, method+" "+p+" "+status)
			}
		}
	}
	sort.Strings(out)
	return out
}

const (
	appOrigin = "https://app.example.com"
	loginPage = "https://app.example.com/login"
	json1     = "application/json"
)

// withStore starts a test server on a SQLite store of its own, which the
// test can close to take the store down.
func withStore(t *testing.T, o options) (*testServer, *sqlitestore.Store) {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o.store = st
	return start(t, o), st
}

func TestOpenAPI_EveryAnswerOfEveryRouteMatchesTheDocument(t *testing.T) {
	c := newContract(t)
	legacy := legacyBackend(t)
	tooBig := `{"email":"` + strings.Repeat("x", 65<<10) + `"}`
	admin := func(extra ...string) []string {
		return append([]string{"Authorization", "Bearer " + adminToken}, extra...)
	}

	// The main server: admin API, metrics, CORS for one origin, a login
	// page, legacy migration with a small allowance of failed credentials,
	// one stream per user.
	clk := &clock{t: time.Now()}
	aStore, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { aStore.Close() })
	a := start(t, options{store: aStore, admin: adminToken, metrics: true, origins: []string{appOrigin}, loginURL: loginPage, clock: clk,
		deps: func(d *server.Deps) {
			d.MaxStreamsPerUser = 1
			d.MigrateOnGet = true
			d.Migrator = &sessionhttp.Migrator{Sessions: &sessionhttp.Sessions{Manager: d.Manager, Cookies: d.Cookies, Client: sessionhttp.ClientFrom(d.TrustedProxies...)},
				Store: aStore, Attempts: aStore, Validator: &sessionhttp.HTTPValidator{URL: legacy.URL},
				CookieNames: []string{"dott_auth_session", "onboarding_status"}, CookieDomain: "example.com", Now: clk.Now, KeepLegacy: time.Minute,
				AttemptBackoff: sessiond.Backoff{Free: 4, Base: time.Second, Max: time.Minute}, Logger: slog.New(slog.DiscardHandler)}
		}})
	api := func(want int, method, path, body, token string, headers ...string) response {
		t.Helper()
		h := headers
		if !slices.Contains(headers, "Origin") {
			h = append([]string{"Origin", appOrigin}, headers...)
		}
		if body != "" && !slices.Contains(headers, "Content-Type") {
			h = append(h, "Content-Type", json1)
		}
		if token != "" {
			h = append(h, "Cookie", "sid="+token)
		}
		return c.do(t, a.url, want, method, path, body, h...)
	}
	crossSite := []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://elsewhere.example"}

	// Operations.
	c.do(t, a.url, 200, "GET", "/healthz", "")
	c.do(t, a.url, 200, "GET", "/readyz", "")
	c.do(t, a.url, 200, "GET", "/openapi.json", "")

	// The session.
	login := api(200, "POST", sessionPath, loginBody(userEmail, userPassword), "")
	token := sidFrom(t, login)
	api(200, "GET", sessionPath, "", token)
	api(401, "GET", sessionPath, "", "")
	api(401, "GET", sessionPath, "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	api(401, "POST", sessionPath, loginBody(userEmail, "wrong password"), "")
	api(400, "POST", sessionPath, `{"email":1}`, "")
	api(400, "POST", sessionPath, `{"email":`, "")
	api(403, "POST", sessionPath, loginBody(userEmail, userPassword), "", crossSite...)
	api(413, "POST", sessionPath, tooBig, "")
	api(415, "POST", sessionPath, loginBody(userEmail, userPassword), "", "Content-Type", "text/plain")
	patched := api(200, "PATCH", sessionPath, `{"data":{"theme":"dark","nested":{"a":[1]}}}`, token)
	version := int(patched.json(t)["data_version"].(float64))
	api(409, "PATCH", sessionPath, fmt.Sprintf(`{"data":{"theme":"light"},"version":%d}`, version+5), token)
	api(400, "PATCH", sessionPath, `{"data":[1]}`, token)
	api(401, "PATCH", sessionPath, `{"data":{}}`, "")
	api(403, "PATCH", sessionPath, `{"data":{}}`, token, crossSite...)
	api(413, "PATCH", sessionPath, `{"data":{"x":"`+strings.Repeat("x", 65<<10)+`"}}`, token)
	api(415, "PATCH", sessionPath, `{"data":{}}`, token, "Content-Type", "text/plain")
	api(405, "PUT", sessionPath, "", token)
	api(403, "DELETE", sessionPath, "", token, crossSite...)
	api(204, "DELETE", sessionPath, "", sidFrom(t, api(200, "POST", sessionPath, loginBody(userEmail, userPassword), "")))
	api(204, "DELETE", sessionPath, "", "")

	// Live revocation: one stream per user here, so a second is refused.
	closeStream := c.stream(t, a.url, token)
	api(429, "GET", sessionPath+"/stream", "", token)
	closeStream()
	api(401, "GET", sessionPath+"/stream", "", "")

	// Preflights from the allowed origin.
	for _, p := range []string{sessionPath, sessionPath + "/stream", "/api/auth/sessions", "/api/auth/sessions/" + randomUUID(t),
		"/api/auth/sessions/revoke-others", "/api/auth/reauth", "/api/auth/password", "/api/auth/events", "/api/auth/migrate-session"} {
		r := api(204, "OPTIONS", p, "", "", "Access-Control-Request-Method", "POST")
		if r.header.Get("Access-Control-Allow-Methods") == "" {
			t.Errorf("OPTIONS %s from %s: no Access-Control-Allow-Methods", p, appOrigin)
		}
	}

	// Devices.
	other := sidFrom(t, api(200, "POST", sessionPath, loginBody(userEmail, userPassword), ""))
	list := api(200, "GET", "/api/auth/sessions", "", token)
	api(401, "GET", "/api/auth/sessions", "", "")
	otherID := sessionID(t, a, other)
	api(400, "DELETE", "/api/auth/sessions/not-a-uuid", "", token)
	api(404, "DELETE", "/api/auth/sessions/"+randomUUID(t), "", token)
	api(401, "DELETE", "/api/auth/sessions/"+otherID, "", "")
	api(403, "DELETE", "/api/auth/sessions/"+otherID, "", token, crossSite...)
	api(204, "DELETE", "/api/auth/sessions/"+otherID, "", token)
	if !strings.Contains(list.body, `"current":true`) {
		t.Errorf("device list without the current session: %s", list.body)
	}
	api(200, "POST", "/api/auth/sessions/revoke-others", "", token)
	api(401, "POST", "/api/auth/sessions/revoke-others", "", "")
	api(403, "POST", "/api/auth/sessions/revoke-others", "", token, crossSite...)
	api(200, "GET", "/api/auth/events?limit=5", "", token)
	api(400, "GET", "/api/auth/events?limit=0", "", token)
	api(401, "GET", "/api/auth/events", "", "")
	token = sidFrom(t, api(200, "POST", "/api/auth/reauth", `{"password":"`+userPassword+`"}`, token))
	api(403, "POST", "/api/auth/reauth", `{"password":"wrong"}`, token)
	api(400, "POST", "/api/auth/reauth", `{"pass":"x"}`, token)
	api(401, "POST", "/api/auth/reauth", `{"password":"x"}`, "")
	api(413, "POST", "/api/auth/reauth", tooBig, token)
	api(415, "POST", "/api/auth/reauth", `{"password":"x"}`, token, "Content-Type", "text/plain")
	const newPassword = "a new and longer password"
	change := func(current, next string) string {
		return `{"current_password":"` + current + `","new_password":"` + next + `"}`
	}
	token = sidFrom(t, api(200, "POST", "/api/auth/password", change(userPassword, newPassword), token))
	api(403, "POST", "/api/auth/password", change("wrong", newPassword+"!"), token)
	api(400, "POST", "/api/auth/password", change(newPassword, "x"), token)
	api(401, "POST", "/api/auth/password", change(newPassword, newPassword+"!"), "")
	api(413, "POST", "/api/auth/password", tooBig, token)
	api(415, "POST", "/api/auth/password", change(newPassword, newPassword+"!"), token, "Content-Type", "text/plain")
	clk.Advance(11 * time.Minute) // past the re-authentication window
	if r := api(403, "POST", "/api/auth/sessions/revoke-others", "", token); r.json(t)["error"] != "reauth_required" {
		t.Errorf("revoke-others after the window: %s", r.body)
	}
	// Legacy cookies beside a session older than the shadow period (a
	// minute here) are expired; a logout expires them whatever the age.
	legacyGone := func(r response) bool {
		return strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), "dott_auth_session=; Path=/; Max-Age=0")
	}
	if r := api(200, "GET", sessionPath, "", token, "Cookie", "dott_auth_session=good-shadow"); !legacyGone(r) {
		t.Errorf("GET %s after the shadow period left the legacy cookies: %q", sessionPath, r.header.Values("Set-Cookie"))
	}
	if r := api(204, "DELETE", sessionPath, "", "", "Cookie", "dott_auth_session=good-logout"); !legacyGone(r) {
		t.Errorf("a logout left the legacy cookies: %q", r.header.Values("Set-Cookie"))
	}

	// Forward auth, GET and HEAD alike.
	for _, m := range []string{"GET", "HEAD"} {
		r := c.do(t, a.url, 200, m, "/auth/verify", "", "Cookie", "sid="+token)
		if r.header.Get("X-User-Email") != userEmail || r.header.Get("X-User-Id") == "" {
			t.Errorf("%s /auth/verify: identity headers %v", m, r.header)
		}
		c.do(t, a.url, 401, m, "/auth/verify", "")
		c.do(t, a.url, 302, m, "/auth/verify?redirect=1&rd=/app", "")
		c.do(t, a.url, 400, m, "/auth/verify", "", "X-Forwarded-Uri", "/a\tb")
		c.do(t, a.url, 200, m, "/auth/migrate", "", "Cookie", "sid="+token)
		c.do(t, a.url, 401, m, "/auth/migrate", "")
		c.do(t, a.url, 401, m, "/auth/migrate", "", "Cookie", "dott_auth_session=bad-"+m)
		c.do(t, a.url, 303, m, "/auth/migrate", "", "Accept", "text/html")
		c.do(t, a.url, 400, m, "/auth/migrate", "", "X-Forwarded-Uri", "/a\tb")
		c.do(t, a.url, 303, m, "/auth/migrate", "", "Cookie", "dott_auth_session=good-303"+m, "X-Forwarded-Uri", "/app")
		c.do(t, a.url, 307, m, "/auth/migrate", "", "Cookie", "dott_auth_session=good-307"+m, "X-Forwarded-Uri", "/app",
			"X-Forwarded-Method", "POST")
	}
	c.do(t, a.url, 405, "POST", "/auth/verify", "")
	// /auth/migrate checks the method only on the way to /auth/verify's
	// answer: without a valid session, any method is answered as a GET.
	c.do(t, a.url, 405, "POST", "/auth/migrate", "", "Cookie", "sid="+token)
	c.do(t, a.url, 401, "POST", "/auth/migrate", "")
	c.do(t, a.url, 303, "POST", "/auth/migrate", "", "Cookie", "dott_auth_session=good-post303")
	c.do(t, a.url, 307, "POST", "/auth/migrate", "", "Cookie", "dott_auth_session=good-post307", "X-Forwarded-Method", "PUT")

	// Manual migration, then its limit on credentials that do not migrate.
	api(200, "POST", "/api/auth/migrate-session", "", "", "Cookie", "dott_auth_session=good-1; onboarding_status=done")
	api(200, "POST", "/api/auth/migrate-session", "", token, "Cookie", "dott_auth_session=good-2")
	api(400, "POST", "/api/auth/migrate-session", "", "")
	api(403, "POST", "/api/auth/migrate-session", "", "", append([]string{"Cookie", "dott_auth_session=good-3"}, crossSite...)...)
	throttled := false
	for i := range 10 {
		want := 0
		if i < 2 {
			want = http.StatusUnauthorized
		}
		r := c.send(t, a.url, "POST", "/api/auth/migrate-session", "", "Origin", appOrigin, "Cookie", "dott_auth_session=bad-"+strconv.Itoa(i))
		if want != 0 && r.status != want {
			t.Fatalf("invalid legacy credential %d: %d %s, want %d", i, r.status, r.body, want)
		}
		if r.status == http.StatusTooManyRequests {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Errorf("10 invalid legacy credentials from one address were never answered 429")
	}
	// Migration on GET /api/auth/session-v2 (--migrate-on-get): the same
	// limit, then, once its window has passed, a refusal and a migration.
	api(429, "GET", sessionPath, "", "", "Cookie", "dott_auth_session=bad-get-throttled")
	clk.Advance(11 * time.Minute)
	api(401, "GET", sessionPath, "", "", "Cookie", "dott_auth_session=bad-get")
	if r := api(200, "GET", sessionPath, "", "", "Cookie", "dott_auth_session=good-get"); sidFrom(t, r) == "" {
		t.Errorf("GET %s migrated without a session cookie: %q", sessionPath, r.header.Values("Set-Cookie"))
	}

	// The admin API.
	adm := func(want int, method, path, body string, headers ...string) response {
		t.Helper()
		h := admin(headers...)
		if body != "" && !slices.Contains(headers, "Content-Type") {
			h = append(h, "Content-Type", json1)
		}
		return c.do(t, a.url, want, method, path, body, h...)
	}
	created := adm(201, "POST", "/admin/v1/sessions", `{"user_id":"ext-42","tenant_id":"acme","email":"ext@example.com","attributes":{"plan":"pro"},"data":{"theme":"dark"},"user_agent":"`+firefoxLinux+`"}`)
	extID := created.json(t)["session"].(map[string]any)["id"].(string)
	adm(400, "POST", "/admin/v1/sessions", `{"user_id":"ext\u0001"}`)
	adm(413, "POST", "/admin/v1/sessions", tooBig)
	adm(415, "POST", "/admin/v1/sessions", `{"user_id":"x"}`, "Content-Type", "text/plain")
	adm(200, "GET", "/admin/v1/sessions/"+extID, "")
	adm(400, "GET", "/admin/v1/sessions/nope", "")
	adm(404, "GET", "/admin/v1/sessions/"+randomUUID(t), "")
	adm(200, "PATCH", "/admin/v1/sessions/"+extID+"/data", `{"data":{"step":2}}`)
	adm(409, "PATCH", "/admin/v1/sessions/"+extID+"/data", `{"data":{"step":3},"version":99}`)
	adm(400, "PATCH", "/admin/v1/sessions/"+extID+"/data", `{"data":"x"}`)
	adm(404, "PATCH", "/admin/v1/sessions/"+randomUUID(t)+"/data", `{"data":{}}`)
	adm(413, "PATCH", "/admin/v1/sessions/"+extID+"/data", tooBig)
	adm(415, "PATCH", "/admin/v1/sessions/"+extID+"/data", `{"data":{}}`, "Content-Type", "text/plain")
	adm(200, "GET", "/admin/v1/users/ext-42/sessions", "")
	adm(400, "GET", "/admin/v1/users/%01/sessions", "")
	adm(200, "DELETE", "/admin/v1/users/ext-42/sessions", "")
	adm(400, "DELETE", "/admin/v1/users/%01/sessions", "")
	adm(200, "DELETE", "/admin/v1/tenants/acme/sessions", "")
	adm(400, "DELETE", "/admin/v1/tenants/%01/sessions", "")
	extID = adm(201, "POST", "/admin/v1/sessions", `{"user_id":"ext-43"}`).json(t)["session"].(map[string]any)["id"].(string)
	adm(204, "DELETE", "/admin/v1/sessions/"+extID, "")
	adm(404, "DELETE", "/admin/v1/sessions/"+extID, "")
	adm(400, "DELETE", "/admin/v1/sessions/nope", "")

	u := adm(201, "POST", "/admin/v1/users", `{"email":"bob@example.com","tenant_id":"acme","attributes":{"roles":["admin"]},"password":"bob's long password"}`)
	bob := u.json(t)["user"].(map[string]any)["id"].(string)
	adm(409, "POST", "/admin/v1/users", `{"id":"`+bob+`","email":"robert@example.com"}`)
	adm(400, "POST", "/admin/v1/users", `{"email":1}`)
	adm(413, "POST", "/admin/v1/users", tooBig)
	adm(415, "POST", "/admin/v1/users", `{"email":"c@example.com"}`, "Content-Type", "text/plain")
	adm(200, "GET", "/admin/v1/users/"+bob, "")
	adm(404, "GET", "/admin/v1/users/nobody", "")
	adm(200, "PATCH", "/admin/v1/users/"+bob, `{"needs_onboarding":true,"attributes":{"plan":"pro"}}`)
	adm(409, "PATCH", "/admin/v1/users/"+bob, `{"onboarding_step":"x","version":0}`)
	adm(400, "PATCH", "/admin/v1/users/"+bob, `{"unknown":1}`)
	adm(404, "PATCH", "/admin/v1/users/nobody", `{"needs_onboarding":false}`)
	adm(413, "PATCH", "/admin/v1/users/"+bob, tooBig)
	adm(415, "PATCH", "/admin/v1/users/"+bob, `{"disabled":false}`, "Content-Type", "text/plain")
	page := adm(200, "GET", "/admin/v1/users?limit=1", "")
	adm(200, "GET", "/admin/v1/users?limit=10&cursor="+page.json(t)["next_cursor"].(string)+"&email_prefix=B&tenant_id=acme", "")
	adm(400, "GET", "/admin/v1/users?limit=0", "")
	adm(200, "POST", "/admin/v1/users/import", `{"email":"cat@example.com","id":"cat","password_hash":"`+djangoHash+`"}`+"\n", "Content-Type", "application/x-ndjson")
	adm(200, "POST", "/admin/v1/users/import", `[{"email":"dan@example.com"}]`, "Content-Type", json1)
	adm(400, "POST", "/admin/v1/users/import", `{"email":`+"\n", "Content-Type", "application/x-ndjson")
	adm(409, "POST", "/admin/v1/users/import", `{"email":"cat@example.com","password_hash":"`+djangoHash+`"}`+"\n", "Content-Type", "application/jsonl")
	adm(413, "POST", "/admin/v1/users/import", strings.Repeat(`{"email":"e@example.com"`+strings.Repeat(" ", 15<<10)+"}\n", 600), "Content-Type", "application/x-ndjson")
	adm(415, "POST", "/admin/v1/users/import", "x", "Content-Type", "text/csv")
	adm(200, "POST", "/admin/v1/users/"+bob+"/disable", "")
	adm(404, "POST", "/admin/v1/users/nobody/disable", "")
	adm(200, "DELETE", "/admin/v1/users/"+bob, "")
	adm(404, "DELETE", "/admin/v1/users/"+bob, "")
	// The migration switch of this node.
	adm(200, "GET", "/admin/v1/migration", "")
	adm(200, "PUT", "/admin/v1/migration", `{"enabled":false}`)
	api(404, "POST", "/api/auth/migrate-session", "", "", "Cookie", "dott_auth_session=good-switched-off")
	adm(200, "PUT", "/admin/v1/migration", `{"enabled":true}`)
	adm(400, "PUT", "/admin/v1/migration", `{}`)
	adm(400, "PUT", "/admin/v1/migration", `{"enabled":"no"}`)
	adm(400, "PUT", "/admin/v1/migration", `{"enabled":`)
	adm(413, "PUT", "/admin/v1/migration", tooBig)
	adm(415, "PUT", "/admin/v1/migration", `{"enabled":true}`, "Content-Type", "text/plain")
	c.do(t, a.url, 200, "GET", "/metrics", "")

	// Without the bearer token, every admin operation is 401; on a server
	// without an admin token, 404.
	bare := start(t, options{})
	for _, op := range c.operations("401") {
		if strings.HasPrefix(op.path, "/admin/") {
			c.do(t, a.url, 401, op.method, op.path, "", "Authorization", "Bearer wrong")
			c.do(t, bare.url, 404, op.method, op.path, "", "Authorization", "Bearer "+adminToken)
		}
	}
	c.do(t, bare.url, 404, "POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-9")

	// At the cap, with --at-limit refuse and one free failure per account.
	capped := start(t, options{admin: adminToken, config: func(cfg *sessiond.Config) { cfg.MaxSessionsPerUser = 1; cfg.RefuseAtLimit = true },
		throttle: accounts.Throttle{AccountAttempts: 1, AddressAttempts: 100}})
	ct := sidFrom(t, c.do(t, capped.url, 200, "POST", sessionPath, loginBody(userEmail, userPassword), "Content-Type", json1))
	c.do(t, capped.url, 409, "POST", sessionPath, loginBody(userEmail, userPassword), "Content-Type", json1)
	// The same login asking to end the least recently used session.
	ct = sidFrom(t, c.do(t, capped.url, 200, "POST", sessionPath, endOldestBody(userPassword), "Content-Type", json1))
	c.do(t, capped.url, 201, "POST", "/admin/v1/sessions", `{"user_id":"ext-1"}`, admin("Content-Type", json1)...)
	c.do(t, capped.url, 409, "POST", "/admin/v1/sessions", `{"user_id":"ext-1"}`, admin("Content-Type", json1)...)
	c.do(t, capped.url, 403, "POST", "/api/auth/reauth", `{"password":"wrong"}`, "Content-Type", json1, "Cookie", "sid="+ct)
	c.do(t, capped.url, 429, "POST", "/api/auth/reauth", `{"password":"wrong"}`, "Content-Type", json1, "Cookie", "sid="+ct)
	c.do(t, capped.url, 429, "POST", "/api/auth/password", change("wrong", newPassword), "Content-Type", json1, "Cookie", "sid="+ct)
	c.do(t, capped.url, 429, "POST", sessionPath, loginBody(userEmail, "wrong"), "Content-Type", json1)
	// An admin API without migration configured.
	c.do(t, capped.url, 404, "GET", "/admin/v1/migration", "", admin()...)
	c.do(t, capped.url, 404, "PUT", "/admin/v1/migration", `{"enabled":true}`, admin("Content-Type", json1)...)

	// With the store down, every route that needs it answers 503.
	down, downStore := withStore(t, options{admin: adminToken, legacyURL: legacy.URL})
	dt := down.login(t)
	downStore.Close()
	c.do(t, down.url, 503, "GET", "/readyz", "")
	for _, op := range c.operations("503") {
		method, path := op.method, op.path
		h := []string{"Cookie", "sid=" + dt}
		body := ""
		switch {
		case strings.HasPrefix(path, "/admin/"):
			h = admin()
		case path == "/api/auth/migrate-session" || path == "/auth/migrate" && method == "POST":
			h = []string{"Cookie", "dott_auth_session=good-down"}
		case path == sessionPath && method == "POST":
			h, body = nil, loginBody(userEmail, userPassword)
		}
		if body == "" {
			body = map[string]string{
				"PATCH " + sessionPath: `{"data":{}}`, "POST /api/auth/reauth": `{"password":"x"}`,
				"POST /api/auth/password":            change("x", newPassword),
				"POST /admin/v1/sessions":            `{"user_id":"u"}`,
				"PATCH /admin/v1/sessions/{id}/data": `{"data":{}}`,
				"POST /admin/v1/users":               `{"email":"f@example.com"}`,
				"PATCH /admin/v1/users/{id}":         `{"disabled":true}`,
				"POST /admin/v1/users/import":        `[{"email":"g@example.com"}]`,
			}[method+" "+op.template]
		}
		if body != "" {
			h = append(h, "Content-Type", json1)
		}
		c.do(t, down.url, 503, method, path, body, h...)
	}

	// Every answer the document lists was provoked and checked.
	var missing []string
	for _, k := range c.documented() {
		if !c.seen[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d documented answers were never provoked by this test (provoke them, or take them out of openapi.json):\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
	t.Logf("%d answers of %d operations checked against openapi.json", len(c.seen), c.operationCount())
}

// randomUUID returns a well-formed session id that names no session.
func randomUUID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	if !sessiond.ValidID(id) {
		t.Fatalf("%s is not a valid session id", id)
	}
	return id
}

// operation is a documented operation: its method, a path that reaches it
// and its template.
type operation struct{ method, path, template string }

// operations returns the documented operations that answer status, with
// concrete paths (ids that name nothing, in the right format).
func (c *contract) operations(status string) []operation {
	var out []operation
	fill := strings.NewReplacer("{user_id}", "u1", "{tenant_id}", "t1")
	for p, item := range c.doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var o struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			json.Unmarshal(raw, &o)
			if _, ok := o.Responses[status]; !ok {
				continue
			}
			path := fill.Replace(p)
			if strings.Contains(path, "{id}") {
				id := "u1"
				if strings.Contains(p, "sessions/{id}") {
					id = "6f1c1c9e-3b8e-4b43-9a51-0d3a0c4e2f10"
				}
				path = strings.Replace(path, "{id}", id, 1)
			}
			out = append(out, operation{strings.ToUpper(method), path, p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].template+out[i].method < out[j].template+out[j].method })
	return out
}

func (c *contract) operationCount() int {
	n := 0
	for _, item := range c.doc.Paths {
		for method := range item {
			if method != "parameters" {
				n++
			}
		}
	}
	return n
}

// TestOpenAPI_EveryRouteIsInTheDocument reads the patterns that routes.go
// and server.go register and holds them to the document's operations, both
// ways: a route added without its contract, or a documented operation
// that no pattern serves, fails.
func TestOpenAPI_EveryRouteIsInTheDocument(t *testing.T) {
	c := newContract(t)
	registered := map[string]bool{} // "method path"; method "" for patterns without one
	for _, file := range []string{"routes.go", "server.go"} {
		for _, p := range muxPatterns(t, file) {
			method, path, ok := strings.Cut(p, " ")
			if !ok {
				method, path = "", p
			}
			registered[strings.ToLower(method)+" "+path] = true
		}
	}
	// Catch-alls that are no operation: unknown paths (404 not_found, or
	// the application behind --upstream) and unknown admin paths.
	catchAll := map[string]bool{" /": true, " /admin/": true}
	documented := map[string]bool{}
	for p, item := range c.doc.Paths {
		for method := range item {
			if method != "parameters" {
				documented[method+" "+p] = true
			}
		}
	}
	for r := range registered {
		method, path, _ := strings.Cut(r, " ")
		switch {
		case catchAll[r]:
		case method == "":
			// A pattern without a method serves every method of its path:
			// the document must have the path, with GET for forward auth.
			if _, ok := c.doc.Paths[path]; !ok {
				t.Errorf("the route %q is not in openapi.json", path)
			}
		case !documented[r]:
			t.Errorf("the route %q is not in openapi.json", strings.ToUpper(method)+" "+path)
		}
	}
	for d := range documented {
		method, path, _ := strings.Cut(d, " ")
		served := registered[d] || registered[" "+path] ||
			method == "head" && registered["get "+path] // a GET pattern serves HEAD
		if !served {
			t.Errorf("openapi.json documents %s %s, which no route serves", strings.ToUpper(method), path)
		}
	}
	if len(registered) < 40 {
		t.Fatalf("only %d patterns read from routes.go and server.go: the reader missed some", len(registered))
	}
}

// muxPatterns returns the patterns that file registers with mux.Handle and
// mux.HandleFunc: string literals, and "METHOD "+p inside a range over a
// literal list of paths. Any other form fails the test, so that no route
// escapes the check.
func muxPatterns(t *testing.T, file string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var ranges []*ast.RangeStmt
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.RangeStmt:
			ranges = append(ranges, n)
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") || len(n.Args) != 2 {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "mux" {
				return true
			}
			pats, ok := patternsOf(n.Args[0], ranges)
			if !ok {
				t.Fatalf("%s: cannot read the pattern of this route; extend muxPatterns", fset.Position(n.Pos()))
			}
			out = append(out, pats...)
		}
		return true
	})
	return out
}

func patternsOf(e ast.Expr, ranges []*ast.RangeStmt) ([]string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(e.Value)
		return []string{s}, err == nil
	case *ast.BinaryExpr:
		prefix, ok := e.X.(*ast.BasicLit)
		v, ok2 := e.Y.(*ast.Ident)
		if !ok || !ok2 || e.Op != token.ADD {
			return nil, false
		}
		p, _ := strconv.Unquote(prefix.Value)
		for _, r := range ranges {
			if id, ok := r.Value.(*ast.Ident); !ok || id.Name != v.Name {
				continue
			}
			list, ok := r.X.(*ast.CompositeLit)
			if !ok {
				return nil, false
			}
			var out []string
			for _, el := range list.Elts {
				lit, ok := el.(*ast.BasicLit)
				if !ok {
					return nil, false
				}
				s, _ := strconv.Unquote(lit.Value)
				out = append(out, p+s)
			}
			return out, true
		}
	}
	return nil, false
}

// TestOpenAPI_TheDocumentIsValidAndServed: openapi.json is a valid OpenAPI
// 3.1 document, and GET /openapi.json serves exactly it as JSON, on the
// public listener and on the admin listener.
func TestOpenAPI_TheDocumentIsValidAndServed(t *testing.T) {
	c := newContract(t)
	if ok, errs := c.v.ValidateDocument(); !ok {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %s", describe(errs))
	}
	onDisk, err := os.ReadFile("../../openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, options{})
	r := c.do(t, s.url, 200, "GET", "/openapi.json", "")
	if r.body != string(onDisk) || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: Content-Type %q, %d bytes, not openapi.json's %d", r.header.Get("Content-Type"), len(r.body), len(onDisk))
	}
	// The admin listener (--admin-listen) serves it too.
	adminListener := httptest.NewServer(server.NewAdminServer(server.Deps{Manager: s.manager, Accounts: s.accounts, AdminToken: adminToken}))
	defer adminListener.Close()
	if r := c.do(t, adminListener.URL, 200, "GET", "/openapi.json", ""); r.body != string(onDisk) {
		t.Fatalf("GET /openapi.json on the admin listener: %d bytes, not openapi.json's %d", len(r.body), len(onDisk))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if json.Unmarshal(onDisk, &doc); !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi.json is OpenAPI %q, want 3.1", doc.OpenAPI)
	}
}
