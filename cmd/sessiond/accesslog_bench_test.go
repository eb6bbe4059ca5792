package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAccessLog measures what the access log adds to a request: the
// same trivial handler through a ServeMux, bare, logged (JSON, to
// io.Discard) with the client's request id, and with the log at warn
// (the line skipped) and a request id made for the request.
func BenchmarkAccessLog(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/auth/session-v2", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
	warn := &slog.HandlerOptions{Level: slog.LevelWarn}
	for _, c := range []struct {
		name, id string
		h        http.Handler
	}{
		{"bare", "req-1", mux},
		{"logged", "req-1", accessLog(mux, slog.New(slog.NewJSONHandler(io.Discard, nil)))},
		{"warn-new-id", "", accessLog(mux, slog.New(slog.NewJSONHandler(io.Discard, warn)))},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/api/auth/session-v2", nil)
			if c.id != "" {
				req.Header.Set("X-Request-Id", c.id)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				c.h.ServeHTTP(w, req)
			}
		})
	}
}

// discardWriter is a ResponseWriter that allocates nothing, so that the
// allocations reported are the access log's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
