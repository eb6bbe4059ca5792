package sessionhttp

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// patternMeta are the characters that make a legacy cookie name a pattern.
const patternMeta = `*?[\`

// isPattern reports whether a name of Migrator.CookieNames is a pattern.
func isPattern(name string) bool { return strings.ContainsAny(name, patternMeta) }

// matchCookie reports whether the cookie name matches pattern, as
// path.Match reads it. A malformed pattern matches nothing
// (CheckCookiePattern refuses it first).
func matchCookie(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}

// CheckCookiePattern checks a name or pattern of Migrator.CookieNames: the
// characters of a cookie name, and the pattern syntax of path.Match ("*",
// "?", "[a-z]", "\\" to escape), after a literal prefix of at least one
// character, so that no pattern takes every cookie of the site ("*" would
// send the application's own cookies to the old backend and expire them).
func CheckCookiePattern(p string) error {
	if p == "" {
		return errors.New("an empty cookie name")
	}
	if strings.ContainsRune(patternMeta, rune(p[0])) {
		return fmt.Errorf("%q: a pattern starts with a literal prefix, as in dott_*", p)
	}
	for _, r := range p {
		if !strings.ContainsRune(patternMeta+"]^", r) && !tokenChar(r) {
			return fmt.Errorf("%q is not a cookie name or pattern: %q is not allowed", p, r)
		}
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%q is not a valid pattern (path.Match syntax: *, ?, [a-z], \\ to escape)", p)
	}
	return nil
}

// tokenChar reports whether r may appear in a cookie name (an RFC 7230
// token).
func tokenChar(r rune) bool {
	return r > ' ' && r < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
}

// isSessionCookie reports whether a cookie named name is, or shadows, the
// session cookie named session: the same name whatever its case and its
// __Host- or __Secure- prefix.
func isSessionCookie(session, name string) bool {
	base := func(n string) string {
		n = strings.ToLower(n)
		for _, p := range []string{"__host-", "__secure-"} {
			n = strings.TrimPrefix(n, p)
		}
		return n
	}
	return base(name) == base(session)
}
