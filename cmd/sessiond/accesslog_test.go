package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestAccessLog_OneLinePerRequestWithTheRequestIDAndNoCookie: a request
// with a well-formed X-Request-Id gets it back and logged with the route
// pattern and status; a malformed one is replaced; the cookie never shows.
func TestAccessLog_OneLinePerRequestWithTheRequestIDAndNoCookie(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"))
	c := client{t, p.url}
	token := c.login("test@example.com", "password")
	_, body := c.do("GET", "/api/auth/session-v2", "", token)
	sessionID := regexp.MustCompile(`"session":\{"id":"([^"]+)"`).FindStringSubmatch(body)[1]
	for _, tc := range []struct{ sent, want string }{{"req-42.a_b", "req-42.a_b"}, {"bad id\"}", ""}} {
		req, _ := http.NewRequest("GET", p.url+"/api/auth/session-v2", nil)
		req.Header.Set("X-Request-Id", tc.sent)
		req.Header.Set("Cookie", "sid="+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		id := res.Header.Get("X-Request-Id")
		if tc.want != "" && id != tc.want || tc.want == "" && !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
			t.Fatalf("X-Request-Id %q sent, %q answered", tc.sent, id)
		}
		line := regexp.MustCompile(`\{[^\n]*"msg":"request"[^\n]*"request_id":"` + regexp.QuoteMeta(id) + `"[^\n]*\}`)
		testenv.WaitFor(t, 5*time.Second, "access log line for request "+id, func() bool { return line.MatchString(p.stderr.String()) })
		l := line.FindString(p.stderr.String())
		for _, want := range []string{`"method":"GET"`, `"route":"GET /api/auth/session-v2"`, `"status":200`, `"client":"127.0.0.1:`, `"duration":`, `"session_id":"` + sessionID + `"`} {
			if !strings.Contains(l, want) {
				t.Errorf("access log line lacks %s: %s", want, l)
			}
		}
	}
	if strings.Contains(p.stderr.String(), token) {
		t.Fatal("the session token reached the log")
	}
}

// TestAccessLog_RefusalsLogTheirReasonAtDebug: a 401 and a 403 each log
// the error code of their answer at debug level, with the request id.
func TestAccessLog_RefusalsLogTheirReasonAtDebug(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"), "--log-level", "debug")
	for _, c := range []struct {
		method, origin string
		status         int
		reason         string
	}{
		{"GET", "", 401, "unauthenticated"},
		{"POST", "https://evil.example", 403, "cross_origin_denied"},
	} {
		req, _ := http.NewRequest(c.method, p.url+"/api/auth/session-v2", strings.NewReader(`{"email":"test@example.com","password":"password"}`))
		req.Header.Set("Content-Type", "application/json")
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Fatalf("%s from %q: %d, want %d", c.method, c.origin, res.StatusCode, c.status)
		}
		id := res.Header.Get("X-Request-Id")
		line := regexp.MustCompile(`"msg":"request refused","status":` + strconv.Itoa(c.status) + `,"reason":"` + c.reason + `"[^\n]*"request_id":"` + id + `"`)
		testenv.WaitFor(t, 5*time.Second, fmt.Sprintf("a debug line for the %d of request %s", c.status, id), func() bool { return line.MatchString(p.stderr.String()) })
	}
}
