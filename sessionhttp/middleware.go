package sessionhttp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond"
)

// Sessions is the Go counterpart of the sessiond server for an application
// that embeds the engine: it puts the request's session on the context and
// guards handlers.
type Sessions struct {
	Manager *sessiond.Manager
	Cookies *Cookies
	// Client describes a request for the anomaly policy; nil skips the
	// policy. ClientFrom builds one that trusts forwarded headers only
	// from given networks.
	Client func(*http.Request) sessiond.Client
	// Observe, when set, is told the outcome of every validation (for
	// metrics): nil for a valid session.
	Observe func(err error)
	// OnValid, when set, is told the request's valid session (for an
	// access log that names it).
	OnValid func(r *http.Request, sess *sessiond.Session)
}

// Session returns the request's live session (see Cookies.Session), with
// the anomaly policy applied and the outcome observed.
func (s *Sessions) Session(r *http.Request) (*sessiond.Session, error) {
	var c sessiond.Client
	if s.Client != nil {
		c = s.Client(r)
	}
	sess, _, err := s.Cookies.Session(r.Context(), s.Manager, r, c)
	if s.Observe != nil {
		s.Observe(err)
	}
	if err == nil && s.OnValid != nil {
		s.OnValid(r, sess)
	}
	return sess, err
}

// Middleware loads the request's session, if it has a valid one, onto the
// request context (sessiond.FromContext). A request without one goes on
// without; a store failure is answered 503, never treated as "no session".
func (s *Sessions) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.Session(r)
		switch {
		case err == nil:
			r = r.WithContext(sessiond.NewContext(r.Context(), sess))
		case errors.Is(err, sessiond.ErrUnauthenticated):
		default:
			WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Require passes only requests that Middleware gave a session. Others get
// 401 with a JSON error, or, when loginURL is set and the request is a
// browser navigation (GET or HEAD accepting text/html), a redirect to
// loginURL with the original path in "next".
func Require(loginURL string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sessiond.FromContext(r.Context()) != nil {
			next.ServeHTTP(w, r)
			return
		}
		if loginURL != "" && isNavigation(r) {
			http.Redirect(w, r, withNext(loginURL, r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		WriteError(w, sessiond.ErrUnauthenticated)
	})
}

func isNavigation(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html")
}
