package server

import (
	"net/http"
	"net/url"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
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
	mux.Handle("GET /api/auth/session-v2/stream", api(http.HandlerFunc(s.handleStream)))
	mux.Handle("OPTIONS /api/auth/session-v2/stream", api(http.HandlerFunc(s.handlePreflight)))

	mux.Handle("GET /api/auth/sessions", api(http.HandlerFunc(s.handleListSessions)))
	mux.Handle("DELETE /api/auth/sessions/{id}", changes(s.handleRevokeSession))
	mux.Handle("POST /api/auth/sessions/revoke-others", changes(s.handleRevokeOthers))
	mux.Handle("POST /api/auth/reauth", changes(s.handleReauth))
	mux.Handle("POST /api/auth/password", changes(s.handleChangePassword))
	mux.Handle("GET /api/auth/events", api(http.HandlerFunc(s.handleEvents)))
	for _, p := range []string{"/api/auth/sessions", "/api/auth/sessions/{id}", "/api/auth/sessions/revoke-others",
		"/api/auth/reauth", "/api/auth/password", "/api/auth/events"} {
		mux.Handle("OPTIONS "+p, api(http.HandlerFunc(s.handlePreflight)))
	}

	if !s.SeparateAdmin {
		s.adminRoutes(mux)
	}

	verify := noStore(&sessionhttp.ForwardAuth{
		Sessions: s.sessions, Headers: s.Identity, Email: s.emailOf,
		LoginURL: s.LoginURL, RedirectHosts: s.RedirectHosts,
	})
	mux.Handle("/auth/verify", verify)
	mux.Handle("/auth/migrate", s.migrateOrVerify(verify))
	mux.Handle("POST /api/auth/migrate-session", changes(s.handleMigrateSession))
	mux.Handle("OPTIONS /api/auth/migrate-session", api(http.HandlerFunc(s.handlePreflight)))

	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("GET /openapi.json", s.handleOpenAPI)

	if s.Upstream != nil {
		mux.Handle("/", s.proxy(s.Upstream))
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, errNotFound)
		})
	}
}

// methodNotAllowed answers 405 with the Allow header for a known path.
func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, sessiond.Errorf(sessionhttp.CodeMethodNotAllowed, "method %s not allowed; use %s", r.Method, allow))
	})
}

// adminRoutes lists the admin API and the metrics: on the public listener,
// or on a listener of their own (Deps.SeparateAdmin, NewAdminServer).
func (s *server) adminRoutes(mux *http.ServeMux) {
	// The admin API is server to server, authenticated by a bearer token,
	// never by a cookie: cross-origin checks do not apply to it.
	mux.Handle("POST /admin/v1/sessions", s.adminOnly(s.handleAdminCreateSession))
	mux.Handle("GET /admin/v1/sessions/{id}", s.adminOnly(s.handleAdminGetSession))
	mux.Handle("DELETE /admin/v1/sessions/{id}", s.adminOnly(s.handleAdminRevokeSession))
	mux.Handle("PATCH /admin/v1/sessions/{id}/data", s.adminOnly(s.handleAdminPatchData))
	mux.Handle("POST /admin/v1/users", s.adminOnly(s.handleAdminCreateUser))
	mux.Handle("GET /admin/v1/users", s.adminOnly(s.handleAdminListUsers))
	mux.Handle("POST /admin/v1/users/import", s.adminOnly(s.handleAdminImportUsers))
	mux.Handle("GET /admin/v1/users/{id}", s.adminOnly(s.handleAdminGetUser))
	mux.Handle("PATCH /admin/v1/users/{id}", s.adminOnly(s.handleAdminPatchUser))
	mux.Handle("DELETE /admin/v1/users/{id}", s.adminOnly(s.handleAdminDeleteUser))
	mux.Handle("GET /admin/v1/users/{user_id}/sessions", s.adminOnly(s.handleAdminListUser))
	mux.Handle("DELETE /admin/v1/users/{user_id}/sessions", s.adminOnly(s.handleAdminRevokeUser))
	mux.Handle("POST /admin/v1/users/{user_id}/disable", s.adminOnly(s.handleAdminDisableUser))
	mux.Handle("DELETE /admin/v1/tenants/{tenant_id}/sessions", s.adminOnly(s.handleAdminRevokeTenant))
	mux.Handle("GET /admin/v1/migration", s.adminOnly(s.handleAdminGetMigration))
	mux.Handle("PUT /admin/v1/migration", s.adminOnly(s.handleAdminPutMigration))
	mux.Handle("/admin/", s.adminOnly(func(w http.ResponseWriter, r *http.Request) { writeError(w, errNotFound) }))
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics.Handler())
	}
}

// hotRoutes are the requests that come with every page view or proxied
// request: GET of the session and the forward-auth check.
var hotRoutes = []string{"/api/auth/session-v2", "/auth/verify"}

// exactRoutes serves the GETs of hotRoutes through a map lookup, and
// everything else through mux: ServeMux's matching costs about 0.8 µs a
// request, a tenth of a cached GET's handler time. The handler and the
// pattern of each path are the mux's own, asked of it once, so the two
// cannot disagree; only a GET of exactly that path (already clean, nothing
// escaped) takes the shortcut.
type exactRoutes struct {
	mux *http.ServeMux
	get map[string]exactRoute
}

type exactRoute struct {
	h       http.Handler
	pattern string
}

func newExactRoutes(mux *http.ServeMux) *exactRoutes {
	e := &exactRoutes{mux: mux, get: make(map[string]exactRoute)}
	for _, p := range hotRoutes {
		h, pattern := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: p}})
		e.get[p] = exactRoute{h: h, pattern: pattern}
	}
	return e
}

func (e *exactRoutes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.RawPath == "" {
		if rt, ok := e.get[r.URL.Path]; ok {
			r.Pattern = rt.pattern
			rt.h.ServeHTTP(w, r)
			return
		}
	}
	e.mux.ServeHTTP(w, r)
}
