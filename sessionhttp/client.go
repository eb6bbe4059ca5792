package sessionhttp

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/sessiond/sessiond"
)

// ClientFrom returns a Sessions.Client that describes a request by its
// client's address and user agent, believing X-Forwarded-For only when the
// peer is in one of the trusted networks (the application's own reverse
// proxies). Forwarded headers from anyone else are ignored: a client must
// not choose the address the anomaly policy and the throttle see (SEC-20).
func ClientFrom(trusted ...netip.Prefix) func(*http.Request) sessiond.Client {
	trusted = append([]netip.Prefix(nil), trusted...)
	return func(r *http.Request) sessiond.Client {
		return sessiond.Client{IPAddress: clientIP(r, trusted), UserAgent: userAgent(r)}
	}
}

// clientIP returns the client's address: the peer, or, when the peer is a
// trusted proxy, the right-most address of X-Forwarded-For that is not
// itself a trusted proxy. A malformed hop ends the chain. It returns "" for
// a peer that is not an IP address.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := peerAddr(r)
	if !peer.IsValid() {
		return ""
	}
	if !trustedAddr(peer, trusted) {
		return peer.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				// A malformed hop ends the chain: what lies left of it
				// cannot be trusted.
				return addr.String()
			}
			addr = a.Unmap()
			if !trustedAddr(addr, trusted) {
				return addr.String()
			}
		}
	}
	return addr.String()
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// trustedAddr reports whether a is in one of the networks.
func trustedAddr(a netip.Addr, networks []netip.Prefix) bool {
	for _, p := range networks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// userAgent returns the request's User-Agent as a session stores it: cut to
// 512 bytes, valid UTF-8, without control characters.
func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, strings.ToValidUTF8(ua, ""))
}
