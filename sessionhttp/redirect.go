package sessionhttp

import (
	"net/url"
	"slices"
	"strings"
)

// SafeRedirect returns target when it is safe to redirect a browser to:
// a path on this site ("/account?tab=1"), or an http(s) URL whose host is in
// allowedHosts. Anything else (another site, a scheme-relative "//evil",
// backslashes that browsers read as slashes, percent-encoded variants of
// those, control characters, CR or LF, other schemes) is refused (SEC-24).
func SafeRedirect(target string, allowedHosts []string) (string, bool) {
	if target == "" || len(target) > 2048 {
		return "", false
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	// Decode repeatedly: "%252F%252F" is "//" to a careless second decoder.
	decoded := target
	for range 3 {
		d, err := url.PathUnescape(decoded)
		if err != nil {
			return "", false
		}
		if d == decoded {
			break
		}
		decoded = d
	}
	for i := 0; i < len(decoded); i++ {
		if c := decoded[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	if strings.HasPrefix(target, "/") {
		if strings.HasPrefix(decoded, "//") || strings.HasPrefix(target, "//") {
			return "", false
		}
		u, err := url.Parse(target)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			return "", false
		}
		return target, true
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.Host == "" {
		return "", false
	}
	if !slices.Contains(allowedHosts, strings.ToLower(u.Host)) {
		return "", false
	}
	return u.String(), true
}

// withNext appends next to loginURL as the "next" query parameter.
// LoginRedirect returns loginURL with next (a safe, local target) in its
// "next" query parameter: where a login page sends the browser back to.
func LoginRedirect(loginURL, next string) string { return withNext(loginURL, next) }

func withNext(loginURL, next string) string {
	sep := "?"
	if strings.Contains(loginURL, "?") {
		sep = "&"
	}
	return loginURL + sep + "next=" + url.QueryEscape(next)
}
