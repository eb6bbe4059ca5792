package sessiond

import (
	"context"
	"errors"
	"net/netip"
	"slices"
)

// AnomalyAction is what the Manager does when a session is presented with
// another browser family or from another network than at login (SEC-20).
type AnomalyAction string

// Anomaly actions.
const (
	AnomalyFlag   AnomalyAction = "flag"
	AnomalyReauth AnomalyAction = "reauth"
	AnomalyRevoke AnomalyAction = "revoke"
)

// ParseAnomalyAction returns the action named s.
func ParseAnomalyAction(s string) (AnomalyAction, error) {
	switch a := AnomalyAction(s); a {
	case AnomalyFlag, AnomalyReauth, AnomalyRevoke:
		return a, nil
	}
	return "", errors.New("must be flag, reauth or revoke")
}

// Session flags.
const (
	FlagAgentChanged   = "agent_changed"
	FlagNetworkChanged = "network_changed"
	// FlagReauthRequired: an anomaly asked for a fresh password check
	// before the next state-changing request.
	FlagReauthRequired = "reauth_required"
)

// HasFlag reports whether the session carries the flag.
func (s *Session) HasFlag(f string) bool { return slices.Contains(s.Flags, f) }

func withoutFlag(flags []string, f string) []string {
	return slices.DeleteFunc(slices.Clone(flags), func(x string) bool { return x == f })
}

// DeviceFingerprint names a device for "new device" detection: browser
// family and operating system, so that a browser update is not a new device.
func DeviceFingerprint(userAgent string) string {
	return browserFamily(userAgent) + "/" + osFamily(userAgent)
}

// checkAnomaly compares the request with the session's login and applies
// the policy. Each kind of change is acted on once per session: the flag it
// sets marks it as seen.
func (m *Manager) checkAnomaly(ctx context.Context, s *Session, c Client) (*Session, error) {
	// A session created without an agent or an address (through the admin
	// API, say) has nothing to compare with.
	var found []string
	if s.UserAgent != "" && c.UserAgent != s.UserAgent && !s.HasFlag(FlagAgentChanged) && browserFamily(c.UserAgent) != browserFamily(s.UserAgent) {
		found = append(found, FlagAgentChanged)
	}
	if s.IPAddress != "" && c.IPAddress != s.IPAddress && !s.HasFlag(FlagNetworkChanged) && !m.sameNetwork(c.IPAddress, s.IPAddress) {
		found = append(found, FlagNetworkChanged)
	}
	if len(found) == 0 {
		return s, nil
	}
	return m.anomalyFlight(ctx, s, c, found)
}

// sameNetwork reports whether a and b share the configured prefix. Anything
// unparsable counts as a change only when the strings differ.
func (m *Manager) sameNetwork(a, b string) bool {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	x, y = x.Unmap(), y.Unmap()
	if x.Is4() != y.Is4() {
		return false
	}
	bits := m.cfg.IPv6Prefix
	if x.Is4() {
		bits = m.cfg.IPv4Prefix
	}
	px, err1 := x.Prefix(bits)
	py, err2 := y.Prefix(bits)
	return err1 == nil && err2 == nil && px == py
}
