package server

import (
	"net/http"

	"github.com/sessiond/sessiond"
)

// routes lists every route. State-changing routes go through the
// cross-origin check (SEC-13); everything under /api gets CORS for the
// configured origins and Cache-Control: no-store.
func (s *server) routes(mux *http.ServeMux) {
	csrf := s.crossOrigin()
	api := func(h http.Handler) http.Handler { return s.cors(noStore(h)) }
	changes := func(h http.HandlerFunc) http.Handler { return api(csrf.Handler(h)) }

	mux.Handle("POST /api/auth/session-v2", changes(s.handleLogin))
	mux.Handle("GET /api/auth/session-v2", api(http.HandlerFunc(s.handleGetSession)))
	mux.Handle("DELETE /api/auth/session-v2", changes(s.handleLogout))
	mux.Handle("PATCH /api/auth/session-v2", changes(s.handlePatchSession))
	mux.Handle("OPTIONS /api/auth/session-v2", api(http.HandlerFunc(s.handlePreflight)))
	mux.Handle("/api/auth/session-v2", api(methodNotAllowed("GET, POST, PATCH, DELETE")))

	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound)
	})
}

// methodNotAllowed answers 405 with the Allow header for a known path.
func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, sessiond.Errorf(codeMethodNotAllowed, "method %s not allowed; use %s", r.Method, allow))
	})
}
