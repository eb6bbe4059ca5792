package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// The hot GETs take a shortcut past ServeMux (exactRoutes); every request
// must still reach the handler, and carry the route label, that the mux
// gives it, and whatever is not exactly one of those GETs goes to the mux.
func TestRoutes_TheShortcutAnswersAsTheMux(t *testing.T) {
	s := start(t, options{metrics: true})
	token := s.login(t)
	for _, c := range []struct {
		method, path string
		cookie       bool
		status       int
	}{
		{"GET", sessionPath, true, http.StatusOK},
		{"GET", sessionPath, false, http.StatusUnauthorized},
		{"HEAD", sessionPath, true, http.StatusOK},
		{"GET", "/api/auth/%73ession-v2", true, http.StatusOK}, // escaped: through the mux
		{"GET", sessionPath + "/", true, http.StatusNotFound},
		{"PUT", sessionPath, true, http.StatusMethodNotAllowed},
		{"GET", "/auth/verify", true, http.StatusOK},
		{"GET", "/auth/verify", false, http.StatusUnauthorized},
		{"POST", "/auth/verify", true, http.StatusMethodNotAllowed}, // through the mux to the handler, which refuses it
	} {
		var headers []string
		if c.cookie {
			headers = []string{"Cookie", "sid=" + token}
		}
		if r := s.do(t, c.method, c.path, "", headers...); r.status != c.status {
			t.Errorf("%s %s (cookie %v): %d, want %d", c.method, c.path, c.cookie, r.status, c.status)
		}
	}
	m := s.do(t, "GET", "/metrics", "").body
	for _, want := range []string{
		`sessiond_http_requests_total{code="200",route="GET /api/auth/session-v2"} 3`,
		`sessiond_http_requests_total{code="401",route="GET /api/auth/session-v2"} 1`,
		`sessiond_http_requests_total{code="200",route="/auth/verify"} 1`,
		`sessiond_http_requests_total{code="405",route="/auth/verify"} 1`,
		`sessiond_http_requests_total{code="401",route="/auth/verify"} 1`,
		`sessiond_http_requests_total{code="405",route="/api/auth/session-v2"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
