package testenv

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// Spoofed is in the value of every identity header that SpoofingHeaders
// sends as a client: an application that believes a value holding it was
// fooled.
const Spoofed = "spoofed-by-the-client"

// IdentityVariables are the CGI variables in which a WSGI, PHP or CGI
// application finds sessiond's identity headers and the remote-user family.
var IdentityVariables = []string{
	"HTTP_X_USER_ID", "HTTP_X_USER_EMAIL", "HTTP_X_TENANT_ID", "HTTP_X_SESSION_ID",
	"HTTP_REMOTE_USER", "HTTP_X_REMOTE_USER", "HTTP_X_FORWARDED_USER",
}

// CGIVariable is the variable under which a CGI gateway (WSGI, PHP, CGI)
// hands a request header to the application: HTTP_ and the name upper-cased
// with "-" as "_", so that X-User-Id, x-user-id and X_User_Id are one.
func CGIVariable(header string) string {
	return "HTTP_" + strings.ToUpper(strings.ReplaceAll(header, "-", "_"))
}

// SpoofingHeaders returns a client's own copies of the identity headers and
// of the remote-user family, in every spelling that a CGI gateway reads as
// the same variable (each "-" or "_", lower or upper case), as name and
// value pairs; every value holds Spoofed and its spelling.
func SpoofingHeaders() [][2]string {
	var out [][2]string
	for _, v := range IdentityVariables {
		words := strings.Split(strings.TrimPrefix(v, "HTTP_"), "_")
		for mask := range 1 << (len(words) - 1) {
			var b strings.Builder
			for i, w := range words {
				if i > 0 {
					if mask&(1<<(i-1)) != 0 {
						b.WriteByte('_')
					} else {
						b.WriteByte('-')
					}
				}
				b.WriteString(w[:1] + strings.ToLower(w[1:]))
			}
			for _, name := range []string{b.String(), strings.ToLower(b.String())} {
				out = append(out, [2]string{name, Spoofed + " as " + name})
			}
		}
	}
	return out
}

// SetRawHeaders adds the pairs to h under their names exactly as written:
// Go's client then sends "X_User_Id" and "x-user-id" as they are.
func SetRawHeaders(h http.Header, pairs [][2]string) {
	for _, p := range pairs {
		h[p[0]] = append(h[p[0]], p[1])
	}
}

// Beliefs are what a CGI-style application believes its HTTP_ variables
// hold: for each, the values of every request header that maps to it. More
// than one value means the gateway decides which one wins.
type Beliefs map[string][]string

// WSGIApp starts an application that believes its request headers as a WSGI
// application does (CGIVariable) and answers every request with its
// Beliefs, as JSON. A request to /set-cookie?c=<line>&c=…
// also gets each line as a Set-Cookie header.
func WSGIApp(t testing.TB) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := Beliefs{}
		for name, values := range r.Header {
			v := CGIVariable(name)
			b[v] = append(b[v], values...)
		}
		if r.URL.Path == "/set-cookie" {
			for _, c := range r.URL.Query()["c"] {
				w.Header().Add("Set-Cookie", c)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(b)
	}))
	t.Cleanup(s.Close)
	return s
}

// Check fails t when the application believed a value a client sent (it
// holds Spoofed), or when a variable of want is not believed to hold
// exactly that one value (want "": not set at all). who names the proxy and
// the request in the message.
func (b Beliefs) Check(t testing.TB, who string, want map[string]string) {
	t.Helper()
	vars := slices.Sorted(maps.Keys(b))
	for v := range want {
		if !slices.Contains(vars, v) {
			vars = append(vars, v)
		}
	}
	for _, v := range vars {
		var spoofed []string
		for _, value := range b[v] {
			if strings.Contains(value, Spoofed) {
				spoofed = append(spoofed, value)
			}
		}
		w, wanted := want[v]
		got := b[v]
		switch {
		case len(spoofed) > 0:
			t.Errorf("%s: the application believes %s holds values the client sent: %q (all of it: %q)", who, v, spoofed, got)
		case wanted && w == "" && len(got) != 0:
			t.Errorf("%s: the application believes %s=%q, want it unset", who, v, got)
		case wanted && w != "" && (len(got) != 1 || got[0] != w):
			t.Errorf("%s: the application believes %s=%q, want exactly %q", who, v, got, w)
		}
	}
}

// String lists the beliefs, for failure messages.
func (b Beliefs) String() string {
	var parts []string
	for _, v := range IdentityVariables {
		if len(b[v]) > 0 {
			parts = append(parts, fmt.Sprintf("%s=%q", v, b[v]))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}
