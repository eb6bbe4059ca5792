package sessionhttp_test

import (
	"testing"

	"github.com/sessiond/sessiond/sessionhttp"
)

func TestSafeRedirect_OnlyLocalPathsAndAllowedHosts_SEC24(t *testing.T) {
	allowed := []string{"app.example.com"}
	for _, c := range []struct {
		target string
		ok     bool
	}{
		{"/", true},
		{"/account?tab=devices#top", true},
		{"/a/b%20c", true},
		{"https://app.example.com/settings", true},
		{"https://APP.example.com/x", true},
		{"", false},
		{"https://evil.example/", false},
		{"http://evil.example", false},
		{"//evil.example/", false},
		{"///evil.example/", false},
		{"/\\evil.example", false},
		{"\\\\evil.example", false},
		{"/%2F/evil.example", false},
		{"/%2f%2fevil.example", false},
		{"%2F%2Fevil.example", false},
		{"/%252F%252Fevil.example", false},
		{"/%5Cevil.example", false},
		{"/ok\r\nSet-Cookie: x=1", false},
		{"/ok%0d%0aSet-Cookie:%20x=1", false},
		{"/ok\x00", false},
		{"javascript:alert(1)", false},
		{"data:text/html,<script>", false},
		{"https://user@app.example.com/", false},
		{"https://app.example.com.evil.example/", false},
		{"ftp://app.example.com/", false},
		{"app.example.com/x", false},
	} {
		got, ok := sessionhttp.SafeRedirect(c.target, allowed)
		if ok != c.ok {
			t.Errorf("SafeRedirect(%q) = %q, %v; want ok=%v", c.target, got, ok, c.ok)
		}
	}
}
