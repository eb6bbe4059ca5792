package server

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
)

// proxy returns the reverse proxy to the application: it runs the legacy
// migration, loads the session, and sets the identity headers on the
// upstream request after deleting any copy the client sent. The session
// cookie itself is not passed upstream: the application never needs the
// token. Bodies, server-sent events and websockets stream through.
//
// Every client header that an application could read as an identity
// header is deleted (SEC-28): any spelling of the configured names and of
// the remote-user family, whatever its case, with "_" for "-" (WSGI, PHP
// and CGI read X_User_Id as HTTP_X_USER_ID, the variable of X-User-Id). An
// upstream's Set-Cookie for the session cookie, under any of its names, is
// dropped from the answer: only sessiond sets it.
func (s *server) proxy(upstream *url.URL) http.Handler {
	spoofable := spoofableHeaders(s.Identity)
	sessionCookies := sessionCookieNames(s.Cookies.Name())
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host
			for name := range pr.Out.Header {
				if spoofable[normalHeader(name)] {
					delete(pr.Out.Header, name)
				}
			}
			pr.SetXForwarded()
			stripCookie(pr.Out.Header, s.Cookies.Name())
			sess := sessiond.FromContext(pr.In.Context())
			email := ""
			if sess != nil {
				email, _ = s.emailOf(pr.In.Context(), sess)
			}
			s.Identity.Set(pr.Out.Header, sess, email)
		},
		// Without a pool every request allocates (and zeroes) a 32 KiB copy
		// buffer: under load most of the garbage, and a collection every
		// few milliseconds.
		BufferPool: copyBuffers{},
		// FlushInterval stays 0: ReverseProxy flushes streaming responses
		// (server-sent events, unknown length) after every write by itself,
		// and buffers the rest into few writes.
		// http.DefaultTransport keeps 2 idle connections per host: under
		// load every other request would dial the application anew.
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		ModifyResponse: func(res *http.Response) error {
			lines := res.Header["Set-Cookie"]
			kept := lines[:0:0]
			for _, line := range lines {
				if name := setCookieName(line); sessionCookies[strings.ToLower(name)] {
					// The value is the application's: never logged.
					s.log.Warn("the application set the session cookie; dropped", "cookie", name,
						"method", res.Request.Method, "path", res.Request.URL.Path)
					continue
				}
				kept = append(kept, line)
			}
			if len(kept) != len(lines) {
				res.Header["Set-Cookie"] = kept
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, r.Context().Err()) {
				s.log.Warn("upstream failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, sessiond.Errorf(sessiond.CodeUnavailable, "the application did not answer"))
		},
	}
	var h http.Handler = s.sessions.Middleware(rp)
	if s.Migrator != nil {
		h = s.Migrator.Middleware(h)
	}
	return h
}

// copyBuffers is the reverse proxy's pool of body copy buffers.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyBuffers) Get() []byte  { return *copyBufferPool.Get().(*[]byte) }
func (copyBuffers) Put(b []byte) { copyBufferPool.Put(&b) }

// remoteUserHeaders are headers that applications and frameworks read as
// the authenticated user, set by other authenticating proxies (Apache's
// REMOTE_USER, oauth2-proxy, Authelia). sessiond never sets them, so a copy
// on a proxied request can only come from the client.
var remoteUserHeaders = []string{
	"Remote-User", "Remote-Email", "Remote-Groups", "Remote-Name",
	"X-Remote-User", "X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username", "X-Forwarded-Groups",
	"X-Auth-Request-User", "X-Auth-Request-Email",
}

// spoofableHeaders returns the normalised names (normalHeader) of the
// headers that no client may send through the proxy: the identity headers,
// the remote-user family, and the forwarding headers the proxy sets itself
// (ReverseProxy removes only their exact spelling).
func spoofableHeaders(id sessionhttp.IdentityHeaders) map[string]bool {
	names := append(id.Names(), remoteUserHeaders...)
	names = append(names, "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded")
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[normalHeader(n)] = true
	}
	return set
}

// normalHeader is the name as a CGI gateway sees it, lower-cased: "_" and
// "-" are one character, case does not count.
func normalHeader(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

// sessionCookieNames returns, lower-cased, the names under which a browser
// could store a cookie that sessiond reads or that shadows it: the
// configured name with and without the __Host- and __Secure- prefixes.
func sessionCookieNames(name string) map[string]bool {
	base := strings.ToLower(name)
	for _, p := range []string{"__host-", "__secure-"} {
		base = strings.TrimPrefix(base, p)
	}
	return map[string]bool{base: true, "__host-" + base: true, "__secure-" + base: true}
}

// setCookieName returns the name of the cookie a Set-Cookie line sets, as
// a browser reads it: trimmed, and for a nameless cookie ("=sid=x", or no
// "=" at all) the name its value would seem to have in a Cookie header.
func setCookieName(line string) string {
	pair, _, _ := strings.Cut(line, ";")
	pair = strings.TrimSpace(pair)
	if rest, ok := strings.CutPrefix(pair, "="); ok {
		pair = strings.TrimSpace(rest)
	}
	name, _, _ := strings.Cut(pair, "=")
	return strings.TrimSpace(name)
}

// stripCookie removes the cookie named name from the Cookie headers.
func stripCookie(h http.Header, name string) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if n, _, _ := strings.Cut(p, "="); p != "" && n != name {
				kept = append(kept, p)
			}
		}
	}
	h.Del("Cookie")
	if len(kept) > 0 {
		h.Set("Cookie", strings.Join(kept, "; "))
	}
}

// handleMigrateSession: POST /api/auth/migrate-session, the manual
// migration for a fetch call: JSON instead of a redirect.
func (s *server) handleMigrateSession(w http.ResponseWriter, r *http.Request) {
	if s.Migrator == nil || !s.Migrator.Enabled() {
		writeError(w, sessiond.Errorf(sessiond.CodeNotFound, "legacy migration is off"))
		return
	}
	if !s.Migrator.HasLegacy(r) {
		writeError(w, sessiond.Errorf(sessiond.CodeInvalidInput, "the request carries no legacy session cookie"))
		return
	}
	// The session cookie wins, checked as on every other read: the
	// anomaly policy applies (#9.8). The legacy cookies still go, once
	// the session's shadow period (--legacy-cookies-keep) has passed.
	sess, _, err := s.Cookies.Session(r.Context(), s.Manager, r, s.client(r))
	switch {
	case err == nil:
		s.Migrator.ExpireBeside(w, r, sess)
		s.answerSession(w, r, sess)
		return
	case errors.Is(err, sessiond.ErrUnavailable):
		s.logIfInternal(r, err)
		writeError(w, err)
		return
	}
	res := s.Migrator.Migrate(r.Context(), r)
	s.Migrator.Finish(w, r, res)
	s.answerMigration(w, r, res)
}

// migrateOnGet answers GET /api/auth/session-v2 for a request without a
// valid session that carries legacy cookies (Deps.MigrateOnGet): as POST
// /api/auth/migrate-session would, so that a single-page app reads its
// session without calling that first. The same replay guard and per-address
// limit apply; a session cookie that names no live session is expired
// unless the migration sets a new one.
func (s *server) migrateOnGet(w http.ResponseWriter, r *http.Request) {
	res := s.Migrator.Migrate(r.Context(), r)
	s.Migrator.Finish(w, r, res)
	if !res.Outcome.Migrated() && s.Cookies.HasCookie(r) {
		s.Cookies.Clear(w)
	}
	s.answerMigration(w, r, res)
}

// answerMigration answers a migration's outcome: the session (200), or 401
// (refused), 429 (throttled) or 503 (the old backend or the store could
// not tell).
func (s *server) answerMigration(w http.ResponseWriter, r *http.Request, res sessionhttp.Result) {
	switch {
	case res.Outcome.Migrated():
		s.answerSession(w, r, res.Session)
	case res.Outcome.Refused():
		writeError(w, sessiond.Errorf(sessiond.CodeUnauthenticated, "the legacy session is not valid"))
	case res.Outcome == sessionhttp.OutcomeThrottled:
		writeError(w, &sessiond.Error{Code: sessiond.CodeTooManyRequests, RetryAfter: time.Minute,
			Message: "too many legacy sessions from this address did not migrate; try again later"})
	default:
		writeError(w, sessiond.Errorf(sessiond.CodeUnavailable, "the legacy session could not be checked; retry shortly"))
	}
}

// migrateOrVerify serves /auth/migrate. nginx sends a request there
// after forward auth refused it (error_page 401). Caddy and Traefik, which
// hand a refused forward-auth answer to the browser as it is, call it as
// their forward-auth endpoint: a valid session gets /auth/verify's answer
// (200 and the identity headers), legacy cookies are migrated with a
// redirect back, anything else is 401. /auth/verify itself never creates a
// session (SEC-24); here only valid legacy cookies do (SEC-25).
func (s *server) migrateOrVerify(verify http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// verify answers hostile forwarded headers (400), a valid session
		// and a store error alike.
		if sessionhttp.ForwardedHeadersClean(r.Header) {
			_, _, err := s.Cookies.Session(r.Context(), s.Manager, r, sessiond.Client{})
			if errors.Is(err, sessiond.ErrUnauthenticated) {
				s.handleForwardMigrate(w, r)
				return
			}
		}
		verify.ServeHTTP(w, r)
	})
}

// handleForwardMigrate answers /auth/migrate for a request that
// forward auth refused (nginx: error_page 401 = /_sessiond_migrate). With
// valid legacy cookies the browser is sent back to X-Forwarded-Uri with the
// new cookie; otherwise 401, or a redirect to the login page.
func (s *server) handleForwardMigrate(w http.ResponseWriter, r *http.Request) {
	w.Header()["Cache-Control"] = headerNoStore
	target, ok := sessionhttp.SafeRedirect(r.Header.Get("X-Forwarded-Uri"), s.RedirectHosts)
	if !ok {
		target = "/"
	}
	if s.Migrator != nil && s.Migrator.HasLegacy(r) {
		res := s.Migrator.Migrate(r.Context(), r)
		s.Migrator.Finish(w, r, res)
		switch {
		case res.Outcome.Migrated():
			http.Redirect(w, r, target, sessionhttp.BackStatus(r.Header.Get("X-Forwarded-Method")))
			return
		case res.Outcome.Unknown():
			writeError(w, sessiond.Errorf(sessiond.CodeUnavailable, "the legacy session could not be checked; retry shortly"))
			return
		}
	}
	if s.LoginURL != "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		// 303, as sessionhttp.Require answers a navigation without a
		// session.
		http.Redirect(w, r, sessionhttp.LoginRedirect(s.LoginURL, target), http.StatusSeeOther)
		return
	}
	writeError(w, sessiond.ErrUnauthenticated)
}

func (s *server) answerSession(w http.ResponseWriter, r *http.Request, sess *sessiond.Session) {
	user, err := s.userOf(r, sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeSession(w, sess, user)
}
