package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
)

// djangoHash is a Django 3.2 make_password("correct horse battery staple")
// at 1,000 iterations (password/testdata/vectors.json).
const djangoHash = "pbkdf2_sha256$1000$mPxMmZRePHTcb9JnO2dZR7$KwXex3SH+22Be1SvSpA48dwVfqszhTZm12Sf6XOi8Yc="

type adminUser struct {
	ID              string          `json:"id"`
	Email           string          `json:"email"`
	TenantID        string          `json:"tenant_id"`
	NeedsOnboarding bool            `json:"needs_onboarding"`
	OnboardingStep  string          `json:"onboarding_step"`
	Disabled        bool            `json:"disabled"`
	Attributes      json.RawMessage `json:"attributes"`
	HasPassword     bool            `json:"has_password"`
	Version         int64           `json:"version"`
}

func decodeUser(t *testing.T, r response) adminUser {
	t.Helper()
	var out struct {
		User adminUser `json:"user"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || out.User.ID == "" {
		t.Fatalf("answer %d %s is not {user}: %v", r.status, r.body, err)
	}
	return out.User
}

func TestAdminUsers_CreateReadPatchDelete(t *testing.T) {
	s := start(t, options{admin: adminToken})
	r := s.admin(t, "POST", "/admin/v1/users", `{"id":"ext-1","email":"Bo@Example.com","tenant_id":"t1","needs_onboarding":true,"onboarding_step":"plan","attributes":{"plan":"free","roles":["viewer"]}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /admin/v1/users: %d %s", r.status, r.body)
	}
	u := decodeUser(t, r)
	if u.HasPassword || u.Version != 0 || !u.NeedsOnboarding || strings.Contains(r.body, "password_hash") {
		t.Fatalf("created %s", r.body)
	}
	if r := s.admin(t, "POST", "/admin/v1/users", `{"id":"ext-1","email":"x@example.com"}`); r.status != http.StatusConflict {
		t.Fatalf("second user with the same id: %d %s", r.status, r.body)
	}
	r = s.admin(t, "PATCH", "/admin/v1/users/ext-1", `{"needs_onboarding":false,"onboarding_step":"","attributes":{"plan":"pro","roles":null},"version":0}`)
	if r.status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	u = decodeUser(t, r)
	if u.NeedsOnboarding || u.OnboardingStep != "" || u.Version != 1 || string(u.Attributes) != `{"plan":"pro"}` || u.TenantID != "t1" {
		t.Fatalf("after PATCH: %s", r.body)
	}
	if r := s.admin(t, "PATCH", "/admin/v1/users/ext-1", `{"onboarding_step":"stale","version":0}`); r.status != http.StatusConflict {
		t.Fatalf("PATCH at a stale version: %d %s, want 409", r.status, r.body)
	}
	for name, body := range map[string]string{
		"unknown field":     `{"password_hash":"x"}`,
		"control character": `{"onboarding_step":"a\u0000b"}`,
		"attributes array":  `{"attributes":[1]}`,
		"bad email":         `{"email":"not an address"}`,
	} {
		if r := s.admin(t, "PATCH", "/admin/v1/users/ext-1", body); r.status != http.StatusBadRequest {
			t.Errorf("PATCH with %s: %d %s, want 400", name, r.status, r.body)
		}
	}
	r = s.admin(t, "GET", "/admin/v1/users/ext-1", "")
	if got := decodeUser(t, r); got.Version != 1 || got.OnboardingStep != "" {
		t.Fatalf("GET after refused patches: %s", r.body)
	}
	if r := s.admin(t, "PATCH", "/admin/v1/users/nobody", `{"disabled":true}`); r.status != http.StatusNotFound {
		t.Fatalf("PATCH of an unknown user: %d", r.status)
	}
	if r := s.admin(t, "DELETE", "/admin/v1/users/ext-1", ""); r.status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if r := s.admin(t, "GET", "/admin/v1/users/ext-1", ""); r.status != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d", r.status)
	}
	if r := s.admin(t, "DELETE", "/admin/v1/users/ext-1", ""); r.status != http.StatusNotFound {
		t.Fatalf("second DELETE: %d", r.status)
	}
}

func TestAdminUsers_PasswordOrImportedHashSignsInAndIsUpgraded_SEC17(t *testing.T) {
	s := start(t, options{admin: adminToken})
	if r := s.admin(t, "POST", "/admin/v1/users", `{"email":"pw@example.com","password":"a fine password"}`); r.status != http.StatusCreated || !decodeUser(t, r).HasPassword {
		t.Fatalf("create with password: %d %s", r.status, r.body)
	}
	if r := s.admin(t, "POST", "/admin/v1/users", `{"email":"PW@example.com","password":"another password"}`); r.status != http.StatusConflict {
		t.Fatalf("the same email in another case: %d %s, want 409", r.status, r.body)
	}
	for name, hash := range map[string]string{
		"unknown format": "md5$abc$def",
		"over the cap":   "pbkdf2_sha256$99000000$mPxMmZRePHTcb9JnO2dZR7$KwXex3SH+22Be1SvSpA48dwVfqszhTZm12Sf6XOi8Yc=",
	} {
		if r := s.admin(t, "POST", "/admin/v1/users", `{"email":"h@example.com","password_hash":"`+hash+`"}`); r.status != http.StatusBadRequest {
			t.Errorf("password_hash %s: %d %s, want 400", name, r.status, r.body)
		}
	}
	r := s.admin(t, "POST", "/admin/v1/users", `{"email":"dj@example.com","password_hash":"`+djangoHash+`"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create with a Django hash: %d %s", r.status, r.body)
	}
	id := decodeUser(t, r).ID
	if r := s.do(t, "POST", sessionPath, loginBody("dj@example.com", userPassword), "Content-Type", "application/json"); r.status != http.StatusOK {
		t.Fatalf("login with the imported hash: %d %s", r.status, r.body)
	}
	u, err := s.store.UserByID(context.Background(), id)
	if err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") || u.Version != 1 {
		t.Fatalf("after the first login the record is %+v, %v; want an argon2id hash at version 1", u, err)
	}
	if r := s.do(t, "POST", sessionPath, loginBody("dj@example.com", userPassword), "Content-Type", "application/json"); r.status != http.StatusOK {
		t.Fatalf("login with the upgraded hash: %d %s", r.status, r.body)
	}
}

func TestAdminUsers_DisableAndDeleteEndEverySession_SEC07(t *testing.T) {
	s := start(t, options{admin: adminToken})
	id := s.userID(t)
	a, b := s.login(t), s.login(t)
	r := s.admin(t, "PATCH", "/admin/v1/users/"+id, `{"disabled":true}`)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"revoked":2`) {
		t.Fatalf("PATCH disabled: %d %s, want 2 revoked", r.status, r.body)
	}
	for _, tok := range []string{a, b} {
		if r := s.get(t, tok); r.status != http.StatusUnauthorized {
			t.Fatalf("a session of a disabled user: %d", r.status)
		}
	}
	if r := s.do(t, "POST", sessionPath, loginBody(userEmail, userPassword), "Content-Type", "application/json"); r.status != http.StatusUnauthorized {
		t.Fatalf("login of a disabled user: %d", r.status)
	}
	if r := s.admin(t, "PATCH", "/admin/v1/users/"+id, `{"disabled":false}`); r.status != http.StatusOK {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	c := s.login(t)
	if r := s.admin(t, "DELETE", "/admin/v1/users/"+id, ""); r.status != http.StatusOK || !strings.Contains(r.body, `"revoked":1`) {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if r := s.get(t, c); r.status != http.StatusUnauthorized {
		t.Fatalf("a session of a deleted user: %d", r.status)
	}
}

func TestAdminUsers_OnboardingChangeShowsInTheNextSessionAnswer(t *testing.T) {
	s := start(t, options{admin: adminToken, cache: true})
	tok := s.login(t)
	if r := s.get(t, tok); !strings.Contains(r.body, `"needs_onboarding":true`) {
		t.Fatalf("before: %s", r.body)
	}
	if r := s.admin(t, "PATCH", "/admin/v1/users/"+s.userID(t), `{"needs_onboarding":false,"onboarding_step":"done"}`); r.status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	if r := s.get(t, tok); !strings.Contains(r.body, `"needs_onboarding":false`) || !strings.Contains(r.body, `"onboarding_step":"done"`) {
		t.Fatalf("after PATCH, on the same node: %s", r.body)
	}
}

func TestAdminUsers_ListPagesWithAnOpaqueCursor(t *testing.T) {
	s := start(t, options{admin: adminToken})
	for i := range 7 {
		tenant := "a"
		if i%2 == 1 {
			tenant = "b"
		}
		body := fmt.Sprintf(`{"id":"u%d","email":"User%d@example.com","tenant_id":%q}`, i, i, tenant)
		if r := s.admin(t, "POST", "/admin/v1/users", body); r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		r := s.admin(t, "GET", "/admin/v1/users?email_prefix=user&tenant_id=a&limit=2&cursor="+cursor, "")
		var page struct {
			Users []adminUser `json:"users"`
			Next  string      `json:"next_cursor"`
		}
		if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &page) != nil || pages > 5 {
			t.Fatalf("list page %d: %d %s", pages, r.status, r.body)
		}
		for _, u := range page.Users {
			ids = append(ids, u.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if strings.Join(ids, ",") != "u0,u2,u4,u6" {
		t.Fatalf("listed %v, want u0,u2,u4,u6", ids)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "cursor=***"} {
		if r := s.admin(t, "GET", "/admin/v1/users?"+q, ""); r.status != http.StatusBadRequest {
			t.Errorf("GET /admin/v1/users?%s: %d, want 400", q, r.status)
		}
	}
}

func TestAdminUsers_ImportValidatesEveryLineBeforeWriting_SEC30(t *testing.T) {
	s := start(t, options{admin: adminToken})
	ndjson := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	good := `{"email":"one@example.com","id":"imp-1","tenant_id":"t","needs_onboarding":true,"onboarding_step":"profile","attributes":{"plan":"pro"},"password_hash":"` + djangoHash + `"}`
	for name, c := range map[string]struct {
		body, line string
	}{
		"unknown format":         {ndjson(good, `{"email":"two@example.com","password_hash":"sha1$x$y"}`), "line 2"},
		"hash over the cap":      {ndjson(good, "", `{"email":"two@example.com","password_hash":"$2b$31$0123456789012345678901uABCDEFGHIJKLMNOPQRSTUVWXYZ0123"}`), "line 3"},
		"duplicate email":        {ndjson(good, `{"email":"ONE@example.com","password_hash":"`+djangoHash+`"}`), "line 2"},
		"email the store holds":  {ndjson(good, `{"email":"`+userEmail+`","password_hash":"`+djangoHash+`"}`), "line 2"},
		"unknown field":          {ndjson(`{"email":"x@example.com","password":"plain"}`), "line 1"},
		"control character":      {ndjson(good, `{"email":"t@example.com","tenant_id":"a\u0007"}`), "line 2"},
		"not JSON":               {ndjson(good, `{"email":`), "line 2"},
		"duplicate key (SEC-30)": {ndjson(`{"email":"a@example.com","email":"b@example.com"}`), "line 1"},
	} {
		r := s.admin(t, "POST", "/admin/v1/users/import", c.body, "Content-Type", "application/x-ndjson")
		if r.status < 400 || r.status > 409 || !strings.Contains(r.body, c.line+":") {
			t.Errorf("%s: %d %s, want a 4xx naming %s", name, r.status, r.body, c.line)
		}
	}
	if r := s.admin(t, "GET", "/admin/v1/users?email_prefix=one", ""); !strings.Contains(r.body, `"users":[]`) {
		t.Fatalf("a refused import wrote users: %s", r.body)
	}
	r := s.admin(t, "POST", "/admin/v1/users/import", `[`+good+`,{"email":"ext@example.com","id":"imp-2"}]`)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"created":2`) {
		t.Fatalf("import as a JSON array: %d %s", r.status, r.body)
	}
	if r := s.admin(t, "POST", "/admin/v1/users/import", "{}", "Content-Type", "text/plain"); r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("import as text/plain: %d", r.status)
	}
	big := strings.Repeat(`{"email":"x@example.com","onboarding_step":"`+strings.Repeat("x", 10<<10)+`"}`+"\n", 900)
	if r := s.admin(t, "POST", "/admin/v1/users/import", big, "Content-Type", "application/x-ndjson"); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("import over 8 MiB: %d", r.status)
	}
	if r := s.do(t, "POST", sessionPath, loginBody("one@example.com", userPassword), "Content-Type", "application/json"); r.status != http.StatusOK {
		t.Fatalf("login of an imported user: %d %s", r.status, r.body)
	}
	r = s.admin(t, "GET", "/admin/v1/users/imp-1", "")
	if u := decodeUser(t, r); !u.HasPassword || u.Version != 1 || u.OnboardingStep != "profile" {
		t.Fatalf("imported user after login: %s", r.body)
	}
}

// backend is a stand-in for an application's login-verify endpoint.
type backend struct {
	*httptest.Server
	status   atomic.Int64
	answer   atomic.Value // string
	calls    atomic.Int64
	lastSig  atomic.Value // string
	lastBody atomic.Value // string
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.status.Store(200)
	b.answer.Store(`{"user_id":"dj-7","email":"kim@example.com","tenant_id":"acme","needs_onboarding":true,"onboarding_step":"welcome","attributes":{"roles":["staff"]}}`)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		b.lastBody.Store(string(body))
		b.lastSig.Store(r.Header.Get("X-Sessiond-Signature"))
		if b.status.Load() == 302 {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(b.status.Load()))
		io.WriteString(w, b.answer.Load().(string))
	}))
	t.Cleanup(b.Close)
	return b
}

func TestDelegatedLogin_TheBackendChecksThePasswordThrottledAsLocal_SEC15_SEC29(t *testing.T) {
	s := start(t, options{admin: adminToken, throttle: accounts.Throttle{AccountAttempts: 3, Base: time.Hour}})
	b := newBackend(t)
	secret := []byte("a login-verify secret of 32 bytes!")
	s.accounts.DelegateLogin(&accounts.Delegate{URL: b.URL, Secret: secret})
	login := func(email, pw string) response {
		return s.do(t, "POST", sessionPath, loginBody(email, pw), "Content-Type", "application/json")
	}

	r := login("kim@example.com", "django password")
	if r.status != http.StatusOK {
		t.Fatalf("delegated login: %d %s", r.status, r.body)
	}
	if got := s.get(t, sidFrom(t, r)); !strings.Contains(got.body, `"id":"dj-7"`) || !strings.Contains(got.body, `"roles":["staff"]`) || !strings.Contains(got.body, `"onboarding_step":"welcome"`) {
		t.Fatalf("session of a delegated user: %s", got.body)
	}
	if body := b.lastBody.Load().(string); body != `{"email":"kim@example.com","password":"django password"}` {
		t.Fatalf("the backend got %s", body)
	}
	sig := b.lastSig.Load().(string)
	ts, mac, ok := strings.Cut(strings.TrimPrefix(sig, "t="), ",v1=")
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + b.lastBody.Load().(string)))
	if n, _ := strconv.ParseInt(ts, 10, 64); !ok || hex.EncodeToString(m.Sum(nil)) != mac || time.Since(time.Unix(n, 0)).Abs() > time.Minute {
		t.Fatalf("X-Sessiond-Signature %q does not verify", sig)
	}
	u, err := s.store.UserByID(context.Background(), "dj-7")
	if err != nil || u.PasswordHash != "" || u.Email != "kim@example.com" {
		t.Fatalf("recorded user %+v, %v; want one without a password", u, err)
	}

	// Re-authentication asks the backend too; the password stays its own.
	kim := sidFrom(t, r)
	b.status.Store(401)
	if r := s.call(t, "POST", "/api/auth/reauth", `{"password":"wrong"}`, kim); r.status != http.StatusForbidden {
		t.Fatalf("delegated re-authentication with a wrong password: %d %s", r.status, r.body)
	}
	b.status.Store(200)
	r = s.call(t, "POST", "/api/auth/reauth", `{"password":"django password"}`, kim)
	if r.status != http.StatusOK {
		t.Fatalf("delegated re-authentication: %d %s", r.status, r.body)
	}
	if r := s.call(t, "POST", "/api/auth/password", `{"current_password":"django password","new_password":"a new password"}`, sidFrom(t, r)); r.status != http.StatusBadRequest {
		t.Fatalf("changing a delegated user's password here: %d %s, want 400", r.status, r.body)
	}

	// A local user with a password is checked here, not by the backend.
	calls := b.calls.Load()
	if r := login(userEmail, userPassword); r.status != http.StatusOK || b.calls.Load() != calls {
		t.Fatalf("local login: %d, backend calls %d → %d", r.status, calls, b.calls.Load())
	}
	wrongLocal := login(userEmail, "wrong password")

	// 401 is a wrong password: the same answer, and it counts (SEC-15).
	b.status.Store(401)
	b.answer.Store(`{"error":"nope"}`)
	r = login("kim@example.com", "wrong")
	if r.status != wrongLocal.status || r.body != wrongLocal.body {
		t.Fatalf("backend 401 answered %d %s; a local wrong password %d %s", r.status, r.body, wrongLocal.status, wrongLocal.body)
	}
	// Anything else is 503 and counts as nothing, however often.
	for _, c := range []struct {
		status int
		answer string
	}{
		{500, `{}`}, {302, ``}, {200, `{"user_id":"dj\u0000x"}`}, {200, `{"user_id":"dj-7","email":"kim@example.com","tenant_id":"a\nb"}`},
		{200, `not json`}, {200, `{"user_id":"` + strings.Repeat("x", 70<<10) + `"}`}, {200, `{"email":"no-id@example.com"}`},
	} {
		b.status.Store(int64(c.status))
		b.answer.Store(c.answer)
		for range 3 {
			if r := login("kim@example.com", "django password"); r.status != http.StatusServiceUnavailable {
				t.Fatalf("backend answering %d %.40q: %d %s, want 503", c.status, c.answer, r.status, r.body)
			}
		}
	}
	b.status.Store(401)
	b.answer.Store(`{}`)
	login("kim@example.com", "wrong")
	b.status.Store(200)
	b.answer.Store(`{"user_id":"dj-7","email":"kim@example.com"}`)
	if r := login("kim@example.com", "django password"); r.status != http.StatusOK {
		t.Fatalf("after two counted failures and 21 unavailable answers (3 free): %d %s", r.status, r.body)
	}
	// Three counted failures reach the back-off, as for a local user.
	b.status.Store(403)
	for range 3 {
		login("kim@example.com", "wrong")
	}
	if r := login("kim@example.com", "wrong"); r.status != http.StatusTooManyRequests {
		t.Fatalf("fourth failure in a row: %d, want 429", r.status)
	}
}

func TestDelegatedLogin_HangingBackendIsA503WithinTheTimeout(t *testing.T) {
	s := start(t, options{})
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); hang.Close() })
	s.accounts.DelegateLogin(&accounts.Delegate{URL: hang.URL, Timeout: 300 * time.Millisecond})
	start := time.Now()
	r := s.do(t, "POST", sessionPath, loginBody("kim@example.com", "pw"), "Content-Type", "application/json")
	if took := time.Since(start); r.status != http.StatusServiceUnavailable || took > 5*time.Second {
		t.Fatalf("hanging backend: %d after %v, want 503 within the timeout", r.status, took)
	}
}

// A session's tenant is what tenant revocation and X-Tenant-Id go by, so a
// user whose tenant moves (by the admin API, or by a trusted source's sync)
// loses every session that carries the old one; a patch that leaves the
// tenant alone ends none.
func TestAdminUsers_ATenantChangeEndsTheUsersSessions(t *testing.T) {
	s := start(t, options{admin: adminToken, cache: true})
	id := s.userID(t)
	a, b := s.login(t), s.login(t)
	if r := s.admin(t, "PATCH", "/admin/v1/users/"+id, `{"onboarding_step":"done"}`); r.status != http.StatusOK || !strings.Contains(r.body, `"revoked":0`) {
		t.Fatalf("PATCH without a tenant change: %d %s, want 0 revoked", r.status, r.body)
	}
	r := s.admin(t, "PATCH", "/admin/v1/users/"+id, `{"tenant_id":"globex"}`)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"revoked":2`) {
		t.Fatalf("PATCH tenant_id: %d %s, want 2 revoked", r.status, r.body)
	}
	for _, tok := range []string{a, b} {
		if r := s.get(t, tok); r.status != http.StatusUnauthorized {
			t.Fatalf("a session of the old tenant after the move: %d %s", r.status, r.body)
		}
	}
	c := s.login(t)
	if r := s.call(t, "GET", "/auth/verify", "", c); r.status != http.StatusOK || r.header.Get("X-Tenant-Id") != "globex" {
		t.Fatalf("forward auth of a new session: %d, X-Tenant-Id %q, want globex", r.status, r.header.Get("X-Tenant-Id"))
	}
	if r := s.admin(t, "DELETE", "/admin/v1/tenants/globex/sessions", ""); r.status != http.StatusOK || !strings.Contains(r.body, `"revoked":1`) {
		t.Fatalf("revoking the new tenant: %d %s, want 1 revoked", r.status, r.body)
	}

	// An external user whose trusted source moves it to another tenant.
	ctx := context.Background()
	ext := sessiond.ExternalUser{ID: "ext-1", Email: "ext@example.com", TenantID: "acme"}
	if _, err := s.accounts.SyncUser(ctx, ext); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.manager.Create(ctx, sessiond.SessionParams{UserID: "ext-1", TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.accounts.SyncUser(ctx, ext); err != nil { // unchanged: the session stays
		t.Fatal(err)
	}
	if r := s.get(t, tok); r.status != http.StatusOK {
		t.Fatalf("a session after an unchanged sync: %d", r.status)
	}
	ext.TenantID = "globex"
	if _, err := s.accounts.SyncUser(ctx, ext); err != nil {
		t.Fatal(err)
	}
	if r := s.get(t, tok); r.status != http.StatusUnauthorized {
		t.Fatalf("a session of the old tenant after the sync moved the user: %d %s", r.status, r.body)
	}
}

// Disabling ends every session also when the user was disabled already, so
// that a call that failed half-way (the record written, the revocation
// not) finishes when made again (SEC-07).
func TestAdminUsers_DisablingAgainEndsWhatIsLeft_SEC07(t *testing.T) {
	s := start(t, options{admin: adminToken})
	id := s.userID(t)
	if r := s.admin(t, "PATCH", "/admin/v1/users/"+id, `{"disabled":true}`); r.status != http.StatusOK {
		t.Fatalf("PATCH disabled: %d %s", r.status, r.body)
	}
	// A session the first call left behind, made past every check.
	tok, _, err := s.manager.Create(context.Background(), sessiond.SessionParams{UserID: id, TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.admin(t, "PATCH", "/admin/v1/users/"+id, `{"disabled":true}`); r.status != http.StatusOK || !strings.Contains(r.body, `"revoked":1`) {
		t.Fatalf("PATCH disabled again: %d %s, want 1 revoked", r.status, r.body)
	}
	if r := s.get(t, tok); r.status != http.StatusUnauthorized {
		t.Fatalf("the session left behind: %d, want 401", r.status)
	}
}
