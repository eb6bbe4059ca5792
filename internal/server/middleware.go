package server

import (
	"net/http"

	"github.com/sessiond/sessiond"
)

// crossOrigin returns the standard library's CSRF protection with the
// configured front-end origins trusted (wildcard patterns checked before
// it); denials answer in our JSON shape.
func (s *server) crossOrigin() originCheck {
	c := http.NewCrossOriginProtection()
	for _, o := range s.origins.exact {
		// Origins were validated by the configuration; an error here is a
		// programming error caught by the server's tests.
		if err := c.AddTrustedOrigin(o); err != nil {
			panic(err)
		}
	}
	c.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errCrossOrigin)
	}))
	return originCheck{std: c, origins: s.origins}
}

// cors answers with credentials only for the configured origins.
func (s *server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && s.origins.allows(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			// A 429's wait, readable by the front end.
			h.Set("Access-Control-Expose-Headers", "Retry-After")
			h.Add("Vary", "Origin")
		}
		next.ServeHTTP(w, r)
	})
}

// handlePreflight answers CORS preflight requests. Only configured origins
// get the Allow headers (added by cors); others get a bare 204 that the
// browser treats as a refusal.
func (s *server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
		h.Set("Access-Control-Allow-Headers", s.allowHeaders)
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Cache-Control"] = headerNoStore
		next.ServeHTTP(w, r)
	})
}

// client describes the request for the anomaly policy, the throttle and
// audit events (sessionhttp.ClientFrom the trusted proxies).
func (s *server) client(r *http.Request) sessiond.Client { return s.clientOf(r) }
