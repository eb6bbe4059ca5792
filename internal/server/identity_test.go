package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// identityOf returns the user object of a GET session and the identity
// headers of forward auth for token.
func (s *testServer) identityOf(t *testing.T, token string) (map[string]any, http.Header) {
	t.Helper()
	g := s.get(t, token)
	if g.status != 200 {
		t.Fatalf("GET session: %d %s", g.status, g.body)
	}
	user, _ := g.json(t)["user"].(map[string]any)
	v := s.call(t, "GET", "/auth/verify", "", token)
	if v.status != 200 {
		t.Fatalf("forward auth: %d", v.status)
	}
	return user, v.header
}

// rewriteIdentity PATCHes the browser-writable data with every spelling of
// an identity a browser might try to plant there.
func (s *testServer) rewriteIdentity(t *testing.T, token string) {
	t.Helper()
	forged := `{"email":"boss@example.com","needs_onboarding":false,"onboarding_step":"done","tenant_id":"root","attributes":{"plan":"enterprise"}}`
	body := `{"data":{"profile":` + forged + `,"user":` + forged + `,"email":"boss@example.com","plan":"enterprise"}}`
	if r := s.call(t, "PATCH", sessionPath, body, token); r.status != 200 {
		t.Fatalf("PATCH of the session data: %d %s", r.status, r.body)
	}
}

func TestIdentity_MigratedUserCannotRewriteItThroughSessionData_SEC27(t *testing.T) {
	s := start(t, options{legacyURL: legacyBackend(t).URL})
	r := s.do(t, "POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-1")
	token := ""
	for _, c := range r.header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, "sid="); ok {
			token, _, _ = strings.Cut(v, ";")
		}
	}
	if r.status != 200 || token == "" {
		t.Fatalf("migration: %d %q", r.status, r.header.Values("Set-Cookie"))
	}
	s.rewriteIdentity(t, token)
	user, h := s.identityOf(t, token)
	if user["email"] != "old@example.com" || user["needs_onboarding"] != true || user["onboarding_step"] != "billing" || user["tenant_id"] != "acme" {
		t.Errorf("the session answer's user after the browser rewrote its data: %v", user)
	}
	if h.Get("X-User-Email") != "old@example.com" || h.Get("X-Tenant-Id") != "acme" || h.Get("X-User-Id") != "legacy-1" {
		t.Errorf("forward auth vouches for %q / %q / %q", h.Get("X-User-Email"), h.Get("X-Tenant-Id"), h.Get("X-User-Id"))
	}
}

func TestIdentity_AdminSessionKeepsServerAttributesApartFromBrowserData_SEC27(t *testing.T) {
	s := start(t, options{admin: adminToken})
	r := s.admin(t, "POST", "/admin/v1/sessions", `{"user_id":"ext-42","tenant_id":"acme","email":"ann@acme.example",
		"needs_onboarding":true,"onboarding_step":"billing","attributes":{"plan":"pro","roles":["editor"]},"data":{"theme":"dark"}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created struct{ Token string }
	json.Unmarshal([]byte(r.body), &created)
	s.rewriteIdentity(t, created.Token)
	user, h := s.identityOf(t, created.Token)
	attrs, _ := json.Marshal(user["attributes"])
	if user["email"] != "ann@acme.example" || user["needs_onboarding"] != true || user["onboarding_step"] != "billing" ||
		string(attrs) != `{"plan":"pro","roles":["editor"]}` {
		t.Errorf("the session answer's user after the browser rewrote its data: %v", user)
	}
	if h.Get("X-User-Email") != "ann@acme.example" {
		t.Errorf("forward auth vouches for %q", h.Get("X-User-Email"))
	}
	// The application's own state is still the browser's to change.
	if g := s.get(t, created.Token); !strings.Contains(g.body, `"theme":"dark"`) || !strings.Contains(g.body, `"plan":"enterprise"`) {
		t.Errorf("session data: %s", g.body)
	}
}

func TestIdentity_ControlCharactersAreRefusedWhereTheyEnter_SEC24(t *testing.T) {
	s := start(t, options{admin: adminToken})
	for name, body := range map[string]string{
		"CR LF in user_id":    `{"user_id":"ext\r\nX-User-Id: admin"}`,
		"NUL in user_id":      `{"user_id":"ext\u0000"}`,
		"LF in tenant_id":     `{"user_id":"ext","tenant_id":"a\nb"}`,
		"NUL in user_agent":   `{"user_id":"ext","user_agent":"Mozilla\u0000"}`,
		"CR in email":         `{"user_id":"ext","email":"a\r@example.com"}`,
		"LF in step":          `{"user_id":"ext","onboarding_step":"a\nb"}`,
		"attributes an array": `{"user_id":"ext","attributes":[1]}`,
	} {
		if r := s.admin(t, "POST", "/admin/v1/sessions", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
		}
	}
	if r := s.admin(t, "GET", "/admin/v1/users/ext/sessions", ""); r.status != 200 || strings.Contains(r.body, `"id"`) {
		t.Errorf("a refused call left sessions behind: %s", r.body)
	}
}

func TestMigrateSession_AValidSidGoesThroughTheAnomalyPolicy_SEC20(t *testing.T) {
	s := start(t, options{legacyURL: legacyBackend(t).URL, config: func(c *sessiond.Config) { c.Anomaly = sessiond.AnomalyRevoke }})
	token := s.loginAs(t, userEmail, userPassword, "User-Agent", firefoxLinux)
	// The stolen cookie, replayed from another browser beside a legacy
	// cookie: the manual migration reads the sid as every read does.
	r := s.do(t, "POST", "/api/auth/migrate-session", "", "Cookie", "sid="+token+"; dott_auth_session=bad-1", "User-Agent", chromeMac)
	if r.status == http.StatusOK {
		t.Fatalf("migrate-session answered the session to another browser: %s", r.body)
	}
	if g := s.call(t, "GET", sessionPath, "", token, "User-Agent", firefoxLinux); g.status != http.StatusUnauthorized {
		t.Fatalf("the session the anomaly policy should have revoked: %d", g.status)
	}
}

func TestMigrateSession_AnExpiredLegacySessionIsA401_SEC25(t *testing.T) {
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"user_id": "legacy-9", "email": "old@example.com", "tenant_id": "acme",
			"expires_at": time.Now().Add(-time.Hour).Format(time.RFC3339)})
	}))
	defer old.Close()
	s := start(t, options{legacyURL: old.URL})
	r := s.do(t, "POST", "/api/auth/migrate-session", "", "Cookie", "dott_auth_session=good-but-ended")
	if r.status != http.StatusUnauthorized || strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ""), "sid=") ||
		!strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ""), "dott_auth_session=; Path=/; Max-Age=0") {
		t.Fatalf("a legacy session the old backend says has ended: %d %q", r.status, r.header.Values("Set-Cookie"))
	}
}

func TestAdmin_NoSessionForADisabledUserNorInAnotherTenant_SEC37(t *testing.T) {
	s := start(t, options{admin: adminToken})
	id := s.userID(t) // ann, tenant acme, of the built-in directory
	if r := s.admin(t, "POST", "/admin/v1/sessions", `{"user_id":"`+id+`","tenant_id":"othertenant"}`); r.status != http.StatusConflict {
		t.Fatalf("a session for ann in another tenant: %d %s, want 409", r.status, r.body)
	}
	if r := s.admin(t, "POST", "/admin/v1/users/"+id+"/disable", ""); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	for _, body := range []string{`{"user_id":"` + id + `"}`, `{"user_id":"` + id + `","tenant_id":"acme"}`} {
		if r := s.admin(t, "POST", "/admin/v1/sessions", body); r.status != http.StatusConflict {
			t.Fatalf("a session for a disabled user (%s): %d %s, want 409", body, r.status, r.body)
		}
	}
	if r := s.admin(t, "GET", "/admin/v1/users/"+id+"/sessions", ""); r.status != 200 || strings.Contains(r.body, `"id"`) {
		t.Fatalf("sessions of the disabled user: %s", r.body)
	}
}
