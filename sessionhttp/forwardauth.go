package sessionhttp

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond"
)

// IdentityHeaders names the headers that carry the identity of a verified
// request: in forward-auth answers and on requests proxied upstream.
type IdentityHeaders struct {
	UserID, Email, TenantID, SessionID string
}

// DefaultIdentityHeaders returns X-User-Id, X-User-Email, X-Tenant-Id and
// X-Session-Id.
func DefaultIdentityHeaders() IdentityHeaders {
	return IdentityHeaders{UserID: "X-User-Id", Email: "X-User-Email", TenantID: "X-Tenant-Id", SessionID: "X-Session-Id"}
}

// Names returns the four header names.
func (h IdentityHeaders) Names() []string {
	return []string{h.UserID, h.Email, h.TenantID, h.SessionID}
}

// Set deletes every copy of the identity headers in hdr (a client may have
// sent its own) and, when s is not nil, sets them for s; email may be empty.
func (h IdentityHeaders) Set(hdr http.Header, s *sessiond.Session, email string) {
	// Each name canonicalised once, deleted and set under that key (what
	// Del and a canonical assignment do): this runs on every request.
	user, tenant, id, mail := http.CanonicalHeaderKey(h.UserID), http.CanonicalHeaderKey(h.TenantID),
		http.CanonicalHeaderKey(h.SessionID), http.CanonicalHeaderKey(h.Email)
	delete(hdr, user)
	delete(hdr, tenant)
	delete(hdr, id)
	delete(hdr, mail)
	if s == nil {
		return
	}
	// One backing array for the four values.
	v := [4]string{s.UserID, s.TenantID, s.ID, email}
	hdr[user] = v[0:1:1]
	hdr[tenant] = v[1:2:2]
	hdr[id] = v[2:3:3]
	if email != "" {
		hdr[mail] = v[3:4:4]
	}
}

// ForwardAuth answers the sub-requests of nginx auth_request, Traefik
// ForwardAuth and Caddy forward_auth: 200 with the identity headers for a
// valid session, 401 otherwise (SEC-24). It never creates a session.
type ForwardAuth struct {
	Sessions *Sessions
	Headers  IdentityHeaders
	// Email, when set, returns the email of the session's user for
	// X-User-Email.
	Email func(ctx context.Context, s *sessiond.Session) (string, error)
	// LoginURL, when set, lets a caller ask for a redirect instead of a
	// 401 (Traefik and Caddy pass it to the browser; nginx cannot): add
	// ?redirect=1, and the browser is sent to LoginURL with "next" set to
	// the original URL (rd parameter, or X-Forwarded-Uri), if that is safe.
	LoginURL string
	// RedirectHosts are the hosts an absolute "next" may point to.
	RedirectHosts []string
}

func (f *ForwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["Cache-Control"] = noStore
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		WriteError(w, sessiond.Errorf(CodeMethodNotAllowed, "forward auth answers GET and HEAD"))
		return
	}
	if bad := hostileForwarded(r.Header); bad != "" {
		WriteError(w, sessiond.Errorf(CodeBadForwardedHeader, "%s contains a control character", bad))
		return
	}
	s, err := f.Sessions.Session(r)
	if err != nil && !errors.Is(err, sessiond.ErrUnauthenticated) {
		WriteError(w, err)
		return
	}
	if err != nil {
		f.deny(w, r)
		return
	}
	email := ""
	if f.Email != nil {
		if email, err = f.Email(r.Context(), s); err != nil && !errors.Is(err, sessiond.ErrNotFound) {
			WriteError(w, err)
			return
		}
	}
	f.Headers.Set(w.Header(), s, email)
	w.WriteHeader(http.StatusOK)
}

func (f *ForwardAuth) deny(w http.ResponseWriter, r *http.Request) {
	if f.LoginURL != "" && r.URL.Query().Get("redirect") == "1" {
		next := r.URL.Query().Get("rd")
		if next == "" {
			next = r.Header.Get("X-Forwarded-Uri")
		}
		if safe, ok := SafeRedirect(next, f.RedirectHosts); ok {
			http.Redirect(w, r, withNext(f.LoginURL, safe), http.StatusFound)
			return
		}
		http.Redirect(w, r, f.LoginURL, http.StatusFound)
		return
	}
	WriteError(w, sessiond.ErrUnauthenticated)
}

var noStore = []string{"no-store"}

// ForwardedHeadersClean reports whether no forwarded header (X-Forwarded-*,
// Forwarded, X-Original-Uri/Url) carries a control character.
func ForwardedHeadersClean(h http.Header) bool { return hostileForwarded(h) == "" }

// hostileForwarded returns the name of the first forwarded header that
// carries a control character, or "".
func hostileForwarded(h http.Header) string {
	for name, values := range h {
		if !strings.HasPrefix(name, "X-Forwarded-") && name != "Forwarded" && name != "X-Original-Uri" && name != "X-Original-Url" {
			continue
		}
		for _, v := range values {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < 0x20 || c == 0x7f {
					return name
				}
			}
		}
	}
	return ""
}
