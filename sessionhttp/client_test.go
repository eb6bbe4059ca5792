package sessionhttp_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/sessiond/sessiond/sessionhttp"
)

// X-Forwarded-For is believed only from a trusted proxy, and only up to the
// first hop that is not one (SEC-20).
func TestClientFrom_BelievesForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	client := sessionhttp.ClientFrom(netip.MustParsePrefix("10.0.0.0/8"))
	for _, tc := range []struct {
		name, peer, xff, want string
	}{
		{"direct client, forged header", "203.0.113.9:4000", "198.51.100.1", "203.0.113.9"},
		{"through the proxy", "10.0.0.2:4000", "198.51.100.1", "198.51.100.1"},
		{"client prepends a forged hop", "10.0.0.2:4000", "192.0.2.66, 198.51.100.1", "198.51.100.1"},
		{"two trusted proxies", "10.0.0.2:4000", "198.51.100.1, 10.0.0.3", "198.51.100.1"},
		{"malformed hop ends the chain", "10.0.0.2:4000", "198.51.100.1, junk", "10.0.0.2"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.9]:4000", "", "203.0.113.9"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		r.Header.Set("User-Agent", "Firefox\x00/1")
		c := client(r)
		if c.IPAddress != tc.want || c.UserAgent != "Firefox/1" {
			t.Errorf("%s: client = %+v, want address %s and agent %q", tc.name, c, tc.want, "Firefox/1")
		}
	}
}
