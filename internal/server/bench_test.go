package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// The handler alone (no network in front of it) for a valid session, to
// find where the time goes; the load figures are in bench/.

func BenchmarkGetSession(b *testing.B) {
	benchmarkRequest(b, options{cache: true, metrics: true}, sessionPath)
}

// BenchmarkForwardAuth: GET /auth/verify, the call nginx's auth_request
// makes on every request.
func BenchmarkForwardAuth(b *testing.B) {
	benchmarkRequest(b, options{cache: true, metrics: true}, "/auth/verify")
}

// BenchmarkReverseProxy: a proxied GET; the application is a real server on
// loopback. Run with -benchmem: allocations drive the collector's pace.
func BenchmarkReverseProxy(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer app.Close()
	up, _ := url.Parse(app.URL)
	benchmarkRequest(b, options{cache: true, upstream: up}, "/page")
}

func benchmarkRequest(b *testing.B, o options, path string) {
	t := &testing.T{}
	s := start(t, o)
	token := s.login(t)
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Cookie", "sid="+token)
	req.RemoteAddr = "127.0.0.1:40000"
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		s.handler.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatal(w.code)
		}
	}
}

// benchWriter is a ResponseWriter that keeps nothing but the status, so
// that the allocations reported are the handler's own.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}
