package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const adminToken = "admin-token-of-at-least-32-bytes-1234"

func (s *testServer) admin(t *testing.T, method, path, body string, extra ...string) response {
	t.Helper()
	h := append([]string{"Authorization", "Bearer " + adminToken}, extra...)
	if body != "" {
		h = append(h, "Content-Type", "application/json")
	}
	return s.do(t, method, path, body, h...)
}

func TestAdmin_IsOffWithoutAToken(t *testing.T) {
	s := start(t, options{})
	for _, h := range [][]string{nil, {"Authorization", "Bearer " + adminToken}} {
		if r := s.do(t, "GET", "/admin/v1/users/u1/sessions", "", h...); r.status != http.StatusNotFound {
			t.Fatalf("admin API without a configured token: %d", r.status)
		}
	}
}

func TestAdmin_RejectsWrongEmptyAndCookieTokens(t *testing.T) {
	s := start(t, options{admin: adminToken})
	for name, h := range map[string][]string{
		"none":             nil,
		"wrong":            {"Authorization", "Bearer " + adminToken + "x"},
		"prefix":           {"Authorization", "Bearer " + adminToken[:10]},
		"empty":            {"Authorization", "Bearer "},
		"basic":            {"Authorization", "Basic " + adminToken},
		"lower-case":       {"Authorization", "bearer " + adminToken},
		"as a cookie":      {"Cookie", "Authorization=Bearer " + adminToken + "; token=" + adminToken},
		"in another field": {"X-Admin-Token", adminToken},
	} {
		r := s.do(t, "GET", "/admin/v1/users/u1/sessions", "", h...)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d, want 401 with WWW-Authenticate", name, r.status)
		}
	}
	if r := s.do(t, "GET", "/admin/v1/users/u1/sessions?access_token="+adminToken, ""); r.status != http.StatusUnauthorized {
		t.Errorf("token in the query string: %d", r.status)
	}
}

func TestAdmin_SessionsForTheApplicationsOwnUsers(t *testing.T) {
	s := start(t, options{admin: adminToken})
	r := s.admin(t, "POST", "/admin/v1/sessions", `{"user_id":"ext-42","tenant_id":"t9","ip_address":"192.0.2.4","user_agent":"`+firefoxLinux+`","data":{"plan":"pro"}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created struct {
		Token     string `json:"token"`
		SetCookie string `json:"set_cookie"`
		Session   struct{ ID string }
	}
	json.Unmarshal([]byte(r.body), &created)
	if !strings.HasPrefix(created.SetCookie, "sid="+created.Token+"; Path=/;") {
		t.Fatalf("set_cookie %q", created.SetCookie)
	}
	g := s.get(t, created.Token)
	if g.status != 200 || !strings.Contains(g.body, `"id":"ext-42"`) || !strings.Contains(g.body, `"tenant_id":"t9"`) || !strings.Contains(g.body, `"plan":"pro"`) {
		t.Fatalf("GET with the admin-made token: %d %s", g.status, g.body)
	}

	if r := s.admin(t, "GET", "/admin/v1/users/ext-42/sessions", ""); r.status != 200 || !strings.Contains(r.body, created.Session.ID) || strings.Contains(r.body, created.Token) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if r := s.admin(t, "PATCH", "/admin/v1/sessions/"+created.Session.ID+"/data", `{"data":{"plan":"team"},"version":0}`); r.status != 200 || !strings.Contains(r.body, `"plan":"team"`) {
		t.Fatalf("patch data: %d %s", r.status, r.body)
	}
	if r := s.admin(t, "PATCH", "/admin/v1/sessions/"+created.Session.ID+"/data", `{"data":{"plan":"x"},"version":0}`); r.status != http.StatusConflict {
		t.Fatalf("stale version: %d", r.status)
	}
	if r := s.admin(t, "GET", "/admin/v1/sessions/"+created.Session.ID, ""); r.status != 200 || !strings.Contains(r.body, `"data_version":1`) {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/admin/v1/sessions/nope", "", 400},
		{"GET", "/admin/v1/sessions/00000000-0000-4000-8000-000000000000", "", 404},
		{"DELETE", "/admin/v1/sessions/00000000-0000-4000-8000-000000000000", "", 404},
		{"POST", "/admin/v1/sessions", `{"tenant_id":"t"}`, 400},
		{"POST", "/admin/v1/sessions", `{"user_id":"u","data":[1]}`, 400},
		{"POST", "/admin/v1/sessions", `{"user_id":"u","extra":1}`, 400},
		{"POST", "/admin/v1/users/nobody/disable", "", 404},
		{"GET", "/admin/v1/nothing", "", 404},
	} {
		if r := s.admin(t, c.method, c.path, c.body); r.status != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, r.status, r.body, c.want)
		}
	}
	if r := s.admin(t, "DELETE", "/admin/v1/sessions/"+created.Session.ID, ""); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d", r.status)
	}
	if s.get(t, created.Token).status != http.StatusUnauthorized {
		t.Fatal("revoked by the admin API, still valid")
	}
}

func TestAdmin_RevokesAUsersOrATenantsSessionsAndDisablesUsers_SEC07(t *testing.T) {
	s := start(t, options{admin: adminToken})
	mk := func(user, tenant string) string {
		r := s.admin(t, "POST", "/admin/v1/sessions", `{"user_id":"`+user+`","tenant_id":"`+tenant+`"}`)
		var c struct{ Token string }
		json.Unmarshal([]byte(r.body), &c)
		return c.Token
	}
	a1, a2, b := mk("a", "acme"), mk("a", "acme"), mk("b", "acme")
	c := mk("c", "other")
	if r := s.admin(t, "DELETE", "/admin/v1/users/a/sessions", ""); r.status != 200 || r.json(t)["revoked"] != float64(2) {
		t.Fatalf("revoke user: %d %s", r.status, r.body)
	}
	if s.get(t, a1).status != 401 || s.get(t, a2).status != 401 || s.get(t, b).status != 200 {
		t.Fatal("revoke user ended the wrong sessions")
	}
	if r := s.admin(t, "DELETE", "/admin/v1/tenants/acme/sessions", ""); r.status != 200 || r.json(t)["revoked"] != float64(1) {
		t.Fatalf("revoke tenant: %d %s", r.status, r.body)
	}
	if s.get(t, b).status != 401 || s.get(t, c).status != 200 {
		t.Fatal("revoke tenant ended the wrong sessions")
	}

	token := s.login(t)
	r := s.admin(t, "POST", "/admin/v1/users/"+s.userID(t)+"/disable", "")
	if r.status != 200 || r.json(t)["revoked"] != float64(1) {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if s.get(t, token).status != 401 {
		t.Fatal("a disabled user's session still works")
	}
	if r := s.call(t, "POST", sessionPath, loginBody(userEmail, userPassword), ""); r.status != 401 {
		t.Fatalf("a disabled user logged in: %d", r.status)
	}
}
