package server

import (
	"net/http"
	"slices"
	"strings"
)

// origins are the configured front-end origins: exact ones, and patterns
// with a wildcard for one leading label (https://*.example.com), as
// preview deployments need.
type origins struct {
	exact     []string
	wildcards []wildcardOrigin
}

// wildcardOrigin is https://*.example.com:8443 taken apart: the scheme,
// the suffix after the wildcard label (".example.com") and the port.
type wildcardOrigin struct {
	scheme, suffix, port string
}

func newOrigins(list []string) origins {
	var o origins
	for _, s := range list {
		scheme, host, ok := strings.Cut(s, "://*.")
		if !ok {
			o.exact = append(o.exact, s)
			continue
		}
		host, port := splitPort(host)
		o.wildcards = append(o.wildcards, wildcardOrigin{scheme: scheme, suffix: "." + strings.ToLower(host), port: port})
	}
	return o
}

// allows reports whether origin, as a browser sends it, is configured:
// exactly, or through a wildcard that stands for exactly one DNS label,
// so that https://*.example.com allows https://a.example.com but neither
// https://a.b.example.com, https://example.com nor https://evilexample.com.
func (o origins) allows(origin string) bool {
	if origin == "" {
		return false
	}
	if slices.Contains(o.exact, origin) {
		return true
	}
	if len(o.wildcards) == 0 {
		return false
	}
	scheme, hostport, ok := strings.Cut(origin, "://")
	if !ok {
		return false
	}
	host, port := splitPort(hostport)
	for _, w := range o.wildcards {
		if scheme != w.scheme || port != w.port {
			continue
		}
		label, ok := strings.CutSuffix(host, w.suffix)
		if ok && validLabel(label) {
			return true
		}
	}
	return false
}

// splitPort splits host:port; IPv6 literals never match a wildcard and
// are left whole.
func splitPort(hostport string) (host, port string) {
	if strings.HasPrefix(hostport, "[") {
		return hostport, ""
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		return hostport[:i], hostport[i+1:]
	}
	return hostport, ""
}

// validLabel: one DNS label, lower case as browsers send it.
func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// originCheck is the cross-origin protection of state-changing routes:
// the standard library's, which trusts exact origins only, preceded by
// the wildcard patterns' own check.
type originCheck struct {
	std     *http.CrossOriginProtection
	origins origins
}

// Handler checks requests before h.
func (c originCheck) Handler(h http.Handler) http.Handler {
	checked := c.std.Handler(h)
	if len(c.origins.wildcards) == 0 {
		return checked
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && c.origins.allows(o) {
			h.ServeHTTP(w, r)
			return
		}
		checked.ServeHTTP(w, r)
	})
}
