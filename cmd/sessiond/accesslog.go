package main

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/internal/server"
)

// accessLog logs one line per request at info level: method, route
// pattern, status, duration, request id, client address and the public id
// of the request's session when it had a valid one; never a header value,
// so never the cookie. The request id is the client's X-Request-Id when it
// is well formed (1 to 128 of A-Z a-z 0-9 . _ -), otherwise a new one, and
// is echoed in the answer. A 401, 403 or 429 also logs its reason (the
// error code and message of the answer) at debug level.
func accessLog(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !wellFormedRequestID(id) {
			id = newRequestID()
		}
		w.Header()["X-Request-Id"] = []string{id}
		if !log.Enabled(r.Context(), slog.LevelInfo) {
			h.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, keepRefusal: log.Enabled(r.Context(), slog.LevelDebug)}
		start := time.Now()
		r, info := server.WithAccessInfo(r)
		h.ServeHTTP(rec, r)
		attrs := []slog.Attr{slog.String("method", r.Method), slog.String("route", r.Pattern),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)),
			slog.String("request_id", id), slog.String("client", r.RemoteAddr)}
		if info.SessionID != "" {
			attrs = append(attrs, slog.String("session_id", info.SessionID))
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		if rec.refusal != nil {
			var body struct{ Error, Message string }
			json.Unmarshal(rec.refusal, &body)
			log.LogAttrs(r.Context(), slog.LevelDebug, "request refused",
				slog.Int("status", rec.status), slog.String("reason", body.Error), slog.String("message", body.Message),
				slog.String("route", r.Pattern), slog.String("request_id", id))
		}
	})
}

// refused are the statuses whose reason is logged at debug level.
func refused(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests
}

// newRequestID returns 32 random hex digits. A request id names a request
// in the logs and is no secret: math/rand/v2's generator (ChaCha8, seeded
// by the runtime) is enough, and about 0.1 µs a request cheaper than
// crypto/rand with hex.EncodeToString (BenchmarkAccessLog/warn-new-id).
func newRequestID() string {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(raw[8:], rand.Uint64())
	var out [32]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}

func wellFormedRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// statusRecorder remembers the status; Unwrap lets http.ResponseController
// reach the connection's Flush and deadlines (the live-revocation stream).
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	// keepRefusal keeps the start of a refusal's body in refusal (its
	// error code and message), for the debug line.
	keepRefusal bool
	refusal     []byte
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
		if s.keepRefusal && refused(code) {
			s.refusal = []byte{}
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	s.wrote = true
	if s.refusal != nil && len(s.refusal) < 1024 {
		s.refusal = append(s.refusal, p[:min(len(p), 1024-len(s.refusal))]...)
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Flush() {
	s.wrote = true
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
