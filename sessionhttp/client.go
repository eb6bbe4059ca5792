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
	peer, host := peerAddr(r)
	if !peer.IsValid() {
		return ""
	}
	if !trustedAddr(peer, trusted) {
		return addrString(peer, host)
	}
	hops := r.Header.Values("X-Forwarded-For")
	addr, text := peer, host
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			hop := strings.TrimSpace(parts[j])
			a, err := netip.ParseAddr(hop)
			if err != nil {
				// A malformed hop ends the chain: what lies left of it
				// cannot be trusted.
				return addrString(addr, text)
			}
			addr, text = a.Unmap(), hop
			if !trustedAddr(addr, trusted) {
				return addrString(addr, text)
			}
		}
	}
	return addrString(addr, text)
}

// peerAddr returns the request's peer address and the text it was parsed
// from.
func peerAddr(r *http.Request) (netip.Addr, string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, ""
	}
	return a.Unmap(), host
}

// addrString returns a.String(), which is text when text is already in
// that form (as a peer's address usually is): the client is read on every
// validation, and this saves an allocation each time.
func addrString(a netip.Addr, text string) string {
	var buf [64]byte
	if string(a.AppendTo(buf[:0])) == text {
		return text
	}
	return a.String()
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
	if printableASCII(ua) {
		return ua // nothing to remove, and valid UTF-8
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, strings.ToValidUTF8(ua, ""))
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
