package sessiond_test

import (
	"testing"

	"github.com/sessiond/sessiond"
)

func TestChange_RoundTripsThroughItsChannelEncoding(t *testing.T) {
	for _, c := range []sessiond.Change{{SessionID: "s-1"}, {UserID: "user:with:colons"}, {TenantID: "acme"}} {
		got, ok := sessiond.ParseChange(c.String())
		if !ok || got != c {
			t.Errorf("ParseChange(%q) = %+v, %v; want %+v", c.String(), got, ok, c)
		}
	}
	for _, bad := range []string{"", "s:", "x:1", "nocolon"} {
		if _, ok := sessiond.ParseChange(bad); ok {
			t.Errorf("ParseChange(%q) accepted", bad)
		}
	}
}
