// Package sessionhttp is the HTTP side of sessiond: the session cookie codec
// and the lookup of a request's session, shared by the sessiond server and
// by Go applications that embed the engine.
package sessionhttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

// maxCandidates bounds how many distinct well-formed session cookies of one
// request are looked up, and so the store work a request can cause. A
// sibling subdomain can plant cookies on the parent domain (cookie
// tossing): junk ones cost lookups but lock nobody out, and past the bound
// only the last ones sent are read (SEC-33). The __Host- prefix stops the
// planting altogether.
const maxCandidates = 16

// Cookies reads and writes the session cookie. Its zero value is not usable;
// build it with NewCookies.
type Cookies struct {
	name     string
	domain   string
	secure   bool
	sameSite http.SameSite
}

// CookieConfig configures the session cookie.
type CookieConfig struct {
	// Name defaults to "sid". A name starting with "__Host-" requires
	// Secure and no Domain (RFC 6265bis), and NewCookies enforces both.
	Name string
	// Domain, when set, shares the cookie with sibling subdomains. Empty
	// (the default) makes it host-only.
	Domain string
	// Insecure drops the Secure attribute. It is for plain-HTTP
	// development on localhost only; the default is Secure.
	Insecure bool
	// SameSite defaults to Lax.
	SameSite http.SameSite
}

// NewCookies validates cfg and returns the codec.
func NewCookies(cfg CookieConfig) (*Cookies, error) {
	if cfg.Name == "" {
		cfg.Name = "sid"
	}
	if !validCookieName(cfg.Name) {
		return nil, fmt.Errorf("cookie name %q is not a valid cookie name", cfg.Name)
	}
	if cfg.SameSite == 0 || cfg.SameSite == http.SameSiteDefaultMode {
		cfg.SameSite = http.SameSiteLaxMode
	}
	if cfg.SameSite == http.SameSiteNoneMode && cfg.Insecure {
		return nil, errors.New("cookie SameSite=None requires Secure")
	}
	if strings.HasPrefix(cfg.Name, "__Host-") && (cfg.Domain != "" || cfg.Insecure) {
		return nil, errors.New("a __Host- cookie must be Secure and have no Domain")
	}
	if strings.HasPrefix(cfg.Name, "__Secure-") && cfg.Insecure {
		return nil, errors.New("a __Secure- cookie must be Secure")
	}
	if cfg.Domain != "" && strings.ContainsAny(cfg.Domain, ";, \t\r\n\"") {
		return nil, fmt.Errorf("cookie domain %q is not a domain", cfg.Domain)
	}
	return &Cookies{name: cfg.Name, domain: cfg.Domain, secure: !cfg.Insecure, sameSite: cfg.SameSite}, nil
}

// Name returns the cookie's name.
func (c *Cookies) Name() string { return c.name }

// Tokens returns the distinct well-formed session tokens the request carries
// in its Cookie headers, sorted, so that what follows never depends on the
// order of duplicate cookies. Values of the wrong shape are ignored; of
// more than maxCandidates distinct values, the last ones sent are kept. Tokens are read only
// from Cookie headers, never from the URL or another header (SEC-04).
func (c *Cookies) Tokens(r *http.Request) []string { return c.appendTokens(nil, r) }

// appendTokens appends Tokens(r) to out, which is empty: Session reads them
// into an array on its stack.
func (c *Cookies) appendTokens(out []string, r *http.Request) []string {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name != c.name || !sessiond.ValidToken(value) {
				continue
			}
			if i := slices.Index(out, value); i >= 0 {
				// A repeated value counts where it was last sent.
				out = append(slices.Delete(out, i, i+1), value)
				continue
			}
			out = append(out, value)
			if len(out) > maxCandidates {
				// Past the bound, the earliest go: browsers send the most
				// recently set cookie last among cookies of one path, so a
				// fresh login's cookie stays among those read while
				// cookies planted before it are dropped (SEC-33).
				out = out[1:]
			}
		}
	}
	slices.Sort(out)
	return out
}

// HasCookie reports whether the request carries a cookie of this name at
// all, well-formed or not.
func (c *Cookies) HasCookie(r *http.Request) bool {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			if name, _, _ := strings.Cut(strings.TrimSpace(part), "="); name == c.name {
				return true
			}
		}
	}
	return false
}

// ErrAmbiguous is returned when a request carries more than one valid
// session: a sign of a cookie planted on a parent domain. The request is
// treated as unauthenticated rather than picking one.
var ErrAmbiguous = sessiond.Errorf(sessiond.CodeUnauthenticated, "more than one valid session cookie")

// Session returns the request's live session and its token. With no valid
// session it returns sessiond.ErrUnauthenticated; with a store failure,
// sessiond.ErrUnavailable. A request that carries several distinct valid
// sessions gets ErrAmbiguous whatever their order.
//
// client, when not zero, describes the request for the anomaly policy
// (sessiond.Manager.Validate).
func (c *Cookies) Session(ctx context.Context, m *sessiond.Manager, r *http.Request, client sessiond.Client) (*sessiond.Session, string, error) {
	var buf [4]string
	tokens := c.appendTokens(buf[:0], r)
	if len(tokens) == 1 {
		s, err := m.Validate(ctx, tokens[0], client)
		return s, tokens[0], err
	}
	var (
		found *sessiond.Session
		token string
	)
	for _, t := range tokens {
		s, err := m.Validate(ctx, t, client)
		if errors.Is(err, sessiond.ErrUnauthenticated) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if found != nil {
			return nil, "", ErrAmbiguous
		}
		found, token = s, t
	}
	if found == nil {
		return nil, "", sessiond.ErrUnauthenticated
	}
	return found, token, nil
}

// Live returns the live sessions among the request's session cookies,
// without the anomaly policy and never failing: what a login revokes.
func (c *Cookies) Live(ctx context.Context, m *sessiond.Manager, r *http.Request) []*sessiond.Session {
	var out []*sessiond.Session
	for _, t := range c.Tokens(r) {
		if s, err := m.Validate(ctx, t, sessiond.Client{}); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// Set writes the session cookie for token, to last until deadline at the
// latest (Max-Age is never longer than the session's absolute deadline,
// SEC-04). It also marks the response Cache-Control: no-store.
func (c *Cookies) Set(w http.ResponseWriter, token string, deadline, now time.Time) {
	c.write(w, c.SetCookieValue(token, deadline, now))
}

// SetCookieValue returns the Set-Cookie header value that Set writes, for a
// caller that forwards it (the admin API hands it to the application).
func (c *Cookies) SetCookieValue(token string, deadline, now time.Time) string {
	maxAge := int(deadline.Sub(now) / time.Second)
	if maxAge <= 0 {
		return c.format("", -1)
	}
	return c.format(token, maxAge)
}

// Clear expires the session cookie with the same attributes it was set
// with, so that the browser drops it.
func (c *Cookies) Clear(w http.ResponseWriter) { c.write(w, c.format("", -1)) }

func (c *Cookies) write(w http.ResponseWriter, setCookie string) {
	w.Header().Add("Set-Cookie", setCookie)
	w.Header().Set("Cache-Control", "no-store")
}

func (c *Cookies) format(value string, maxAge int) string {
	var b strings.Builder
	b.WriteString(c.name)
	b.WriteByte('=')
	b.WriteString(value)
	b.WriteString("; Path=/")
	if c.domain != "" {
		b.WriteString("; Domain=")
		b.WriteString(c.domain)
	}
	if maxAge < 0 {
		b.WriteString("; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
	} else {
		b.WriteString("; Max-Age=")
		b.WriteString(strconv.Itoa(maxAge))
	}
	b.WriteString("; HttpOnly")
	if c.secure {
		b.WriteString("; Secure")
	}
	switch c.sameSite {
	case http.SameSiteStrictMode:
		b.WriteString("; SameSite=Strict")
	case http.SameSiteNoneMode:
		b.WriteString("; SameSite=None")
	default:
		b.WriteString("; SameSite=Lax")
	}
	return b.String()
}

// validCookieName reports whether s is an RFC 6265 token.
func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
