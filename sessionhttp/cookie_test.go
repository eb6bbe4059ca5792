package sessionhttp_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
)

func TestNewCookies_RefusesUnsafeCombinations_SEC04(t *testing.T) {
	bad := []sessionhttp.CookieConfig{
		{Name: "__Host-sid", Domain: "example.com"},
		{Name: "__Host-sid", Insecure: true},
		{Name: "__Secure-sid", Insecure: true},
		{Name: "bad name"},
		{Name: "sid;x"},
		{SameSite: http.SameSiteNoneMode, Insecure: true},
		{Domain: "example.com; Path=/evil"},
	}
	for _, c := range bad {
		if _, err := sessionhttp.NewCookies(c); err == nil {
			t.Errorf("NewCookies(%+v) accepted", c)
		}
	}
	if _, err := sessionhttp.NewCookies(sessionhttp.CookieConfig{Name: "__Host-sid"}); err != nil {
		t.Errorf("__Host-sid refused: %v", err)
	}
}

func setCookie(t *testing.T, cfg sessionhttp.CookieConfig, deadline time.Duration) string {
	t.Helper()
	c, err := sessionhttp.NewCookies(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	now := time.Now()
	c.Set(w, strings.Repeat("A", 36), now.Add(deadline), now)
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	return w.Header().Get("Set-Cookie")
}

func TestSet_AttributesFollowTheConfiguration_SEC04(t *testing.T) {
	cases := []struct {
		cfg      sessionhttp.CookieConfig
		deadline time.Duration
		want     string
	}{
		{sessionhttp.CookieConfig{}, time.Hour, "sid=" + strings.Repeat("A", 36) + "; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax"},
		{sessionhttp.CookieConfig{Domain: "example.com", SameSite: http.SameSiteStrictMode}, time.Minute,
			"sid=" + strings.Repeat("A", 36) + "; Path=/; Domain=example.com; Max-Age=60; HttpOnly; Secure; SameSite=Strict"},
		{sessionhttp.CookieConfig{Name: "__Host-sid"}, 90 * time.Second, "__Host-sid=" + strings.Repeat("A", 36) + "; Path=/; Max-Age=90; HttpOnly; Secure; SameSite=Lax"},
		{sessionhttp.CookieConfig{Insecure: true}, time.Hour, "sid=" + strings.Repeat("A", 36) + "; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"},
		{sessionhttp.CookieConfig{}, -time.Second, "sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax"},
	}
	for _, c := range cases {
		// Max-Age counts whole seconds down from the deadline.
		got := setCookie(t, c.cfg, c.deadline+500*time.Millisecond)
		if c.deadline < 0 {
			got = setCookie(t, c.cfg, c.deadline)
		}
		if got != c.want {
			t.Errorf("%+v:\n got %s\nwant %s", c.cfg, got, c.want)
		}
	}
}

func request(cookies ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range cookies {
		r.Header.Add("Cookie", c)
	}
	return r
}

func TestTokens_ReadsOnlyWellFormedSidCookies_SEC02(t *testing.T) {
	c, _ := sessionhttp.NewCookies(sessionhttp.CookieConfig{})
	a, b := strings.Repeat("a", 36), strings.Repeat("b", 36)
	cases := []struct {
		cookies []string
		want    []string
	}{
		{nil, nil},
		{[]string{"sid=" + a}, []string{a}},
		{[]string{"x=1; sid=" + a + "; y=2"}, []string{a}},
		{[]string{"sid=" + b, "sid=" + a}, []string{a, b}},
		{[]string{"sid=" + a + "; sid=" + a}, []string{a}},
		{[]string{"sid=\"" + a + "\""}, nil},
		{[]string{"SID=" + a}, nil},
		{[]string{"sid=" + a[:35]}, nil},
		{[]string{"xsid=" + a}, nil},
		{[]string{"sid=" + a + "x"}, nil},
		// Junk planted on a parent domain is read, up to the bound
		// (SEC-33); more than 16 distinct values yield none.
		{[]string{"sid=1;sid=2;sid=" + strings.Repeat("c", 36) + ";sid=" + strings.Repeat("d", 36) + ";sid=" + strings.Repeat("e", 36) + ";sid=" + a + ";sid=" + b},
			[]string{a, b, strings.Repeat("c", 36), strings.Repeat("d", 36), strings.Repeat("e", 36)}},
		{[]string{manyTokens(16)}, tokenValues(16)},
		// Past the bound the last ones sent stay: a fresh login's cookie,
		// set after the planted ones, is still read.
		{[]string{manyTokens(17)}, tokenValues(17)[1:]},
	}
	for _, tc := range cases {
		if got := c.Tokens(request(tc.cookies...)); !slices.Equal(got, tc.want) {
			t.Errorf("Tokens(%q) = %q, want %q", tc.cookies, got, tc.want)
		}
	}
	// Only the Cookie header counts.
	r := httptest.NewRequest("GET", "/?sid="+a, nil)
	r.Header.Set("Authorization", "Bearer "+a)
	if got := c.Tokens(r); got != nil {
		t.Errorf("token read from outside the Cookie header: %q", got)
	}
}

// FuzzTokens checks the cookie parser on arbitrary Cookie headers: it never
// panics, returns only well-formed tokens, sorted and distinct, at most a
// handful, and its answer does not depend on the order of the cookies.
func FuzzTokens(f *testing.F) {
	c, _ := sessionhttp.NewCookies(sessionhttp.CookieConfig{})
	f.Fuzz(func(t *testing.T, header string) {
		got := c.Tokens(request(header))
		if len(got) > 16 {
			t.Fatalf("%d tokens", len(got))
		}
		for i, tok := range got {
			if !sessiond.ValidToken(tok) {
				t.Fatalf("malformed token %q returned", tok)
			}
			if i > 0 && got[i-1] >= tok {
				t.Fatalf("tokens not sorted and distinct: %q", got)
			}
		}
		if len(got) == 16 {
			return // past the bound, which ones stay depends on the order
		}
		parts := strings.Split(header, ";")
		slices.Reverse(parts)
		if rev := c.Tokens(request(strings.Join(parts, ";"))); !slices.Equal(rev, got) {
			t.Fatalf("order changes the answer: %q vs %q", got, rev)
		}
	})
}

// tokenValues returns n distinct well-formed tokens, sorted.
func tokenValues(n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = strings.Repeat(string(rune('A'+i)), 36)
	}
	return out
}

// manyTokens is a Cookie header with n distinct well-formed sid values.
func manyTokens(n int) string {
	return "sid=" + strings.Join(tokenValues(n), "; sid=")
}
