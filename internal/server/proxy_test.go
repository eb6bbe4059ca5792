package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessionhttp"
)

// believe sends GET path through the proxy as a client that spoofs every
// spelling of the identity headers, with the session cookie when token is
// not empty, and returns what the WSGI-style application believed.
func (s *testServer) believe(t *testing.T, path, cookie string) testenv.Beliefs {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	testenv.SetRawHeaders(req.Header, testenv.SpoofingHeaders())
	// The forwarding headers that the proxy sets itself, spelled so that
	// ReverseProxy's own removal (exact names only) misses them.
	testenv.SetRawHeaders(req.Header, [][2]string{{"X_Forwarded_For", testenv.Spoofed}, {"x_forwarded_host", testenv.Spoofed},
		{"X-Forwarded_Proto", testenv.Spoofed}, {"FORWARDED", "for=" + testenv.Spoofed}})
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var b testenv.Beliefs
	if res.StatusCode != 200 || json.Unmarshal(body, &b) != nil {
		t.Fatalf("GET %s through the proxy: %d %s", path, res.StatusCode, body)
	}
	return b
}

// A WSGI, PHP or CGI application reads X_User_Id, x-user-id and X-USER-ID
// as one variable, HTTP_X_USER_ID. Through the reverse proxy it believes
// only what sessiond vouches for: every spelling a client sends of the
// identity headers and of the remote-user family is dropped (SEC-28).
func TestReverseProxy_NoSpellingOfAnIdentityHeaderReachesAWSGIApp_SEC28(t *testing.T) {
	app := testenv.WSGIApp(t)
	up, _ := url.Parse(app.URL)
	s := start(t, options{upstream: up})
	token := s.login(t)
	sessionID := s.get(t, token).json(t)["session"].(map[string]any)["id"].(string)

	host := strings.TrimPrefix(s.url, "http://")
	s.believe(t, "/orders", "sid="+token).Check(t, "signed in, through sessiond's proxy", map[string]string{
		"HTTP_X_USER_ID": s.userID(t), "HTTP_X_USER_EMAIL": userEmail, "HTTP_X_TENANT_ID": "acme", "HTTP_X_SESSION_ID": sessionID,
		"HTTP_REMOTE_USER": "", "HTTP_X_REMOTE_USER": "", "HTTP_X_FORWARDED_USER": "",
		"HTTP_X_FORWARDED_FOR": "127.0.0.1", "HTTP_X_FORWARDED_HOST": host, "HTTP_X_FORWARDED_PROTO": "http", "HTTP_FORWARDED": "",
	})
	anonymous := map[string]string{"HTTP_X_FORWARDED_FOR": "127.0.0.1"}
	for _, v := range testenv.IdentityVariables {
		anonymous[v] = ""
	}
	s.believe(t, "/public", "").Check(t, "without a session, through sessiond's proxy", anonymous)
	s.believe(t, "/public", "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").Check(t, "with an unknown token, through sessiond's proxy", anonymous)
}

// An application behind the proxy cannot set the session cookie, under any
// spelling a browser would store as it or send back as it: the line is
// dropped and logged at warn without its value; the application's other
// cookies pass (SEC-28).
func TestReverseProxy_UpstreamCannotSetTheSessionCookie_SEC28(t *testing.T) {
	for _, c := range []struct{ configured, base string }{{"sid", "sid"}, {"__Host-sid", "sid"}, {"app_session", "app_session"}} {
		t.Run(c.configured, func(t *testing.T) {
			app := testenv.WSGIApp(t)
			up, _ := url.Parse(app.URL)
			logs := &testenv.Buffer{}
			s := start(t, options{upstream: up, logs: logs, cookie: sessionhttp.CookieConfig{Name: c.configured}})
			r := s.do(t, "POST", sessionPath, loginBody(userEmail, userPassword), "Content-Type", "application/json")
			if r.status != 200 {
				t.Fatalf("login: %d %s", r.status, r.body)
			}
			cookie, _, _ := strings.Cut(r.header.Get("Set-Cookie"), ";")

			b := c.base
			forged := []string{
				b + "=from-the-app-1; Path=/; HttpOnly",
				strings.ToUpper(b) + "=from-the-app-2; Path=/",
				"__Host-" + b + "=from-the-app-3; Path=/; Secure",
				"__host-" + b + "=from-the-app-4; Path=/; Secure",
				"__Secure-" + b + "=from-the-app-5; Secure",
				"  " + b + " =from-the-app-6",
				"=" + b + "=from-the-app-7", // a nameless cookie, sent back as sid=…
				b,
			}
			kept := []string{"theme=dark; Path=/", b + "bar=open", "x" + b + "=1"}
			q := url.Values{"c": append(append([]string{}, forged...), kept...)}
			res := s.do(t, "GET", "/set-cookie?"+q.Encode(), "", "Cookie", cookie)
			if res.status != 200 {
				t.Fatalf("GET /set-cookie through the proxy: %d %s", res.status, res.body)
			}
			if got := res.header.Values("Set-Cookie"); strings.Join(got, "\n") != strings.Join(kept, "\n") {
				t.Fatalf("the browser got Set-Cookie %q, want only the application's own %q", got, kept)
			}
			if n := strings.Count(logs.String(), "the application set the session cookie"); n != len(forged) {
				t.Fatalf("%d warnings for %d dropped cookies in the log:\n%s", n, len(forged), logs)
			}
			if strings.Contains(logs.String(), "from-the-app") {
				t.Fatalf("the log holds a cookie value:\n%s", logs)
			}
			// The browser's session is untouched.
			if r := s.do(t, "GET", sessionPath, "", "Cookie", cookie); r.status != 200 {
				t.Fatalf("the session after the application's attempt: %d %s", r.status, r.body)
			}
		})
	}
}
