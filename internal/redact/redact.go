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
		if strings.ContainsAny(raw, "@?#") {
			return Mark
		}
		return raw
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mark)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			if !harmless[strings.ToLower(k)] {
				for i := range vs {
					vs[i] = Mark
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	if u.Fragment != "" {
		u.Fragment = Mark
	}
	if u.Path != "" {
		parts := strings.Split(u.Path, "/")
		for i, p := range parts {
			if secretLooking(p) {
				parts[i] = Mark
			}
		}
		u.Path, u.RawPath = strings.Join(parts, "/"), ""
	}
	return u.String()
}

// secretLooking reports whether a path segment may be a credential: long,
// and mixing letters and digits (a Slack-style webhook path, a token), as
// opposed to words such as "api" or "legacy-session".
func secretLooking(seg string) bool {
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
