// Package redact makes URLs fit for logs and error messages (SEC-31): a
// store URL carries a password, a webhook URL often a secret in its path or
// query, a validation URL a token in its query. Every URL that sessiond
// logs goes through URL, and every HTTP client error through Error.
package redact

import (
	"errors"
	"net/url"
	"strings"
)

// Mark replaces what is redacted.
const Mark = "REDACTED"

// harmless are query parameters whose values say how to connect, never
// who may: they stay readable.
var harmless = map[string]bool{
	"sslmode": true, "search_path": true, "prefix": true, "shards": true, "addr": true,
	"connect_timeout": true, "master_set": true, "dial_timeout": true, "application_name": true,
}

// URL returns raw with its password, every query value but the harmless
// ones, its fragment and every path segment that looks like a secret
// replaced by Mark. A value that does not parse as a URL with a scheme and a
// host is returned as "REDACTED", whole, unless it holds no "@", "?" or
// "#" (a file path such as sqlite:sessiond.db).
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" && u.Host == "" {
		// Not a URL: a file path stays readable, anything that may be a
		// connection string in another form (PostgreSQL's "host=…
		// password=…") is hidden whole.
		if strings.ContainsAny(raw, "@?#= \t") {
			return Mark
		}
		return raw
	}
	if u.User != nil {
		name, hasPassword := u.User.Username(), false
		_, hasPassword = u.User.Password()
		switch {
		case hasPassword:
			u.User = url.UserPassword(name, Mark)
		case secretLooking(name) || u.Scheme == "http" || u.Scheme == "https":
			// A bearer token as the user name (https://TOKEN@host/).
			u.User = url.User(Mark)
		}
	}
	if u.RawQuery != "" {
		var kept []string
		for _, pair := range strings.Split(u.RawQuery, "&") {
			k, v, hasValue := strings.Cut(pair, "=")
			key, _ := url.QueryUnescape(k)
			switch {
			case !hasValue:
				kept = append(kept, Mark) // a bare key may be the secret itself
			case harmless[strings.ToLower(key)]:
				kept = append(kept, k+"="+v)
			default:
				kept = append(kept, k+"="+Mark)
			}
		}
		u.RawQuery = strings.Join(kept, "&")
	}
	if u.Fragment != "" {
		u.Fragment = Mark
	}
	if p := u.EscapedPath(); p != "" {
		// Judge the segments as sent, before decoding: an escaped "/"
		// must not split a token into short, innocent-looking parts.
		parts := strings.Split(p, "/")
		for i, seg := range parts {
			if secretLooking(seg) {
				parts[i] = Mark
			}
		}
		u.RawPath = strings.Join(parts, "/")
		u.Path, _ = url.PathUnescape(u.RawPath)
	}
	return u.String()
}

// secretLooking reports whether a path segment or user name may be a
// credential: long and mixing letters and digits (a Slack-style webhook
// path, a token), or simply long (24 bytes or more), as opposed to words
// such as "api" or "legacy-session".
func secretLooking(seg string) bool {
	if len(seg) >= 24 {
		return true
	}
	if len(seg) < 16 {
		return false
	}
	var letters, digits bool
	for _, c := range seg {
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters = true
		}
	}
	return letters && digits
}

// Error returns err with the URL of a *url.Error it wraps redacted; other
// errors come back as they are. net/http's client errors name the whole
// URL they failed to reach.
func Error(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: URL(ue.URL), Err: ue.Err}
}
