package sessiond

import (
	"encoding/json"
	"net/netip"
	"unicode"
	"unicode/utf8"
)

// Limits on the identity values a session carries. They are written into
// identity headers and logs, so they are short, valid UTF-8 and free of
// control characters (SEC-24): a CR, LF or NUL from an admin call, an old
// backend or a login backend is refused where it enters, never emitted.
const (
	MaxIDLength        = 256 // user and tenant ids, in bytes
	MaxUserAgentLength = 512
	MaxAddressLength   = 64
)

// CheckIdentity returns an invalid-input error naming field when v is
// longer than max bytes, is not valid UTF-8 or holds a control character
// (tab included).
func CheckIdentity(field, v string, max int) error {
	if len(v) > max {
		return Errorf(CodeInvalidInput, "%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(v) {
		return Errorf(CodeInvalidInput, "%s is not valid UTF-8", field)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return Errorf(CodeInvalidInput, "%s contains a control character", field)
		}
	}
	return nil
}

// checkNewSession checks what a new session would carry.
func checkNewSession(ns SessionParams) error {
	if ns.UserID == "" {
		return Errorf(CodeInvalidInput, "user id is required")
	}
	for _, c := range []struct {
		field, v string
		max      int
	}{
		{"user id", ns.UserID, MaxIDLength},
		{"tenant id", ns.TenantID, MaxIDLength},
		{"ip address", ns.IPAddress, MaxAddressLength},
		{"user agent", ns.UserAgent, MaxUserAgentLength},
	} {
		if err := CheckIdentity(c.field, c.v, c.max); err != nil {
			return err
		}
	}
	return nil
}

// ExternalUser is what a trusted source says about a user whose password
// sessiond does not hold: the old backend at migration, the application
// through the admin API. It becomes a user record, which only the server
// writes, so that identity never comes from browser-writable session data
// (SEC-27).
type ExternalUser struct {
	ID              string
	Email           string // optional
	TenantID        string
	NeedsOnboarding bool
	OnboardingStep  string
	// Attributes is a JSON object (roles, plan); nil keeps what the record
	// holds.
	Attributes json.RawMessage
}

// AddressKey is the part of a client address that per-address limits
// count: an IPv4 address, or the /64 of an IPv6 one, since one client
// commonly holds a whole /64 and could otherwise take a fresh address per
// attempt. Anything that does not parse is returned as it is.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}
