package sessionhttp

import (
	"net/http"
	"slices"

	"github.com/sessiond/sessiond"
)

// ExpireLegacy adds Set-Cookie headers that expire every legacy cookie,
// host-only and, when configured, on the parent domain: each name of
// CookieNames, and for a pattern among them, each name of r's cookies that
// it matches.
func (m *Migrator) ExpireLegacy(w http.ResponseWriter, r *http.Request) {
	expire := func(name string) {
		w.Header().Add("Set-Cookie", name+"=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
		if m.CookieDomain != "" {
			w.Header().Add("Set-Cookie", name+"=; Path=/; Domain="+m.CookieDomain+"; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
		}
	}
	patterns := false
	for _, name := range m.CookieNames {
		if isPattern(name) {
			patterns = true
			continue
		}
		expire(name)
	}
	if !patterns {
		return
	}
	var seen []string
	for _, c := range r.Cookies() {
		if !slices.Contains(seen, c.Name) && !slices.Contains(m.CookieNames, c.Name) && m.isLegacy(c.Name) {
			seen = append(seen, c.Name)
			expire(c.Name)
		}
	}
}

// ExpireBeside handles the legacy cookies of a request that has a valid
// session sess: it expires them, unless the session is younger than
// KeepLegacy (the shadow period), or the request carries none or migration
// is off. It reads the request's cookies only for a session older than the
// period.
func (m *Migrator) ExpireBeside(w http.ResponseWriter, r *http.Request, sess *sessiond.Session) {
	if !m.keeps(sess) && m.HasLegacy(r) {
		m.ExpireLegacy(w, r)
	}
}

// keeps reports whether legacy cookies beside sess stay: the session is
// younger than the shadow period.
func (m *Migrator) keeps(sess *sessiond.Session) bool {
	return m.KeepLegacy > 0 && m.now().Sub(sess.CreatedAt) < m.KeepLegacy
}

// Middleware migrates requests that carry legacy cookies and no valid
// session: on success the browser is sent back to the same URL with the new
// cookie (303 for GET and HEAD; 307 for other methods, so that the body is
// sent again). An invalid legacy session has its cookies expired and the
// request goes on unauthenticated; a backend failure leaves everything as it
// was. A request with a valid session keeps it, and its legacy cookies are
// expired once the shadow period (KeepLegacy) of that session has passed.
func (m *Migrator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.HasLegacy(r) {
			next.ServeHTTP(w, r)
			return
		}
		if sess, _, err := m.Sessions.Cookies.Session(r.Context(), m.Sessions.Manager, r, sessiond.Client{}); err == nil {
			if !m.keeps(sess) {
				m.ExpireLegacy(w, r)
			}
			next.ServeHTTP(w, r)
			return
		}
		res := m.Migrate(r.Context(), r)
		m.Finish(w, r, res)
		if res.Outcome.Migrated() {
			// Back to where the request was going, but only ever a local
			// path: a request target such as "//evil.example/x" would
			// otherwise become a redirect off the site.
			back, ok := SafeRedirect(r.URL.RequestURI(), nil)
			if !ok {
				back = "/"
			}
			http.Redirect(w, r, back, BackStatus(r.Method))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Finish writes the cookies an outcome asks for: a migrated one sets the
// session cookie and expires the legacy cookies (without a shadow period:
// with one, KeepLegacy, they stay), a refused one expires the legacy
// cookies, an unknown one leaves them. It is the one place that turns an
// outcome into cookies, for the middleware and for the server's endpoints
// alike.
func (m *Migrator) Finish(w http.ResponseWriter, r *http.Request, res Result) {
	switch {
	case res.Outcome.Migrated():
		if !m.keeps(res.Session) {
			m.ExpireLegacy(w, r)
		}
		m.Sessions.Cookies.Set(w, res.Token, res.Session.ExpiresAt, m.now())
	case res.Outcome.Refused():
		m.ExpireLegacy(w, r)
	}
}

// BackStatus is the status of the redirect that sends a migrated request
// back to where it was going: 303 for GET and HEAD, 307 for other methods,
// so that the browser sends the body again.
func BackStatus(method string) int {
	if method != "" && method != http.MethodGet && method != http.MethodHead {
		return http.StatusTemporaryRedirect
	}
	return http.StatusSeeOther
}
