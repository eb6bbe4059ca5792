package sessionhttp

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// The address is given in netip's canonical form whatever form the peer or
// a forwarded hop was written in.
func TestClientIP_CanonicalForm(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct{ remote, xff, want string }{
		{"192.0.2.7:5000", "", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5000", "", "192.0.2.7"},
		{"[2001:DB8::0001]:5000", "", "2001:db8::1"},
		{"[2001:db8::1]:5000", "", "2001:db8::1"},
		{"192.0.2.7", "", "192.0.2.7"}, // no port
		{"garbage", "", ""},
		{"192.0.2.7:5000", "198.51.100.1", "192.0.2.7"}, // untrusted peer: its header is ignored
		{"10.1.2.3:5000", " 2001:DB8::2 , 10.9.9.9", "2001:db8::2"},
		{"10.1.2.3:5000", "::ffff:198.51.100.1", "198.51.100.1"},
		{"10.1.2.3:5000", "198.51.100.1, junk", "10.1.2.3"},
		{"10.1.2.3:5000", "10.2.2.2", "10.2.2.2"}, // all trusted: the left-most
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientIP(r, proxies); got != c.want {
			t.Errorf("clientIP(%q, X-Forwarded-For %q) = %q, want %q", c.remote, c.xff, got, c.want)
		}
	}
}

// The client of a request is read on every validation: for a peer in
// canonical form and a printable agent, it allocates nothing.
func TestClientFrom_NoAllocation(t *testing.T) {
	client := ClientFrom()
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.7:5000"
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36")
	if n := testing.AllocsPerRun(100, func() { client(r) }); n != 0 {
		t.Errorf("client: %v allocations per request", n)
	}
}
