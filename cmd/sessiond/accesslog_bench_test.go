package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAccessLog measures what the access log adds to a request: the
// same trivial handler through a ServeMux, bare and logged (JSON, to
// io.Discard).
func BenchmarkAccessLog(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/auth/session-v2", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", mux},
		{"logged", accessLog(mux, slog.New(slog.NewJSONHandler(io.Discard, nil)))},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/api/auth/session-v2", nil)
			req.Header.Set("X-Request-Id", "req-1")
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
