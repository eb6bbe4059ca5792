package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// BenchmarkGetSession measures the handler alone (no network) for a valid
// session, to find where the time goes; the load figures are in bench/.
func BenchmarkGetSession(b *testing.B) {
	t := &testing.T{}
	s := start(t, options{cache: true})
	token := s.login(t)
	req := httptest.NewRequest("GET", sessionPath, nil)
	req.Header.Set("Cookie", "sid="+token)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkReverseProxy measures a proxied GET with a valid session: the
// handler is called directly, the application is a real server on
// loopback. Run with -benchmem: allocations drive the collector's pace.
func BenchmarkReverseProxy(b *testing.B) {
	t := &testing.T{}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer app.Close()
	up, _ := url.Parse(app.URL)
	s := start(t, options{cache: true, upstream: up})
	token := s.login(t)
	req := httptest.NewRequest("GET", "/page", nil)
	req.Header.Set("Cookie", "sid="+token)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkForwardAuth measures GET /auth/verify with a valid session, the
// call nginx's auth_request makes on every request.
func BenchmarkForwardAuth(b *testing.B) {
	t := &testing.T{}
	s := start(t, options{cache: true})
	token := s.login(t)
	req := httptest.NewRequest("GET", "/auth/verify", nil)
	req.Header.Set("Cookie", "sid="+token)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
