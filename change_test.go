package sessiond_test

import (
	"strings"
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

func TestChange_ParseRefusesOversizedAndUnknown_SEC36(t *testing.T) {
	long := strings.Repeat("x", sessiond.MaxIDLength)
	if _, ok := sessiond.ParseChange("u:" + long); !ok {
		t.Errorf("ParseChange refused a change with an id of MaxIDLength (%d) bytes", sessiond.MaxIDLength)
	}
	for _, bad := range []string{"u:" + long + "x", "s:" + strings.Repeat("y", 1<<20), "S:1", "z:1", ":1"} {
		if _, ok := sessiond.ParseChange(bad); ok {
			t.Errorf("ParseChange accepted %d bytes starting %.20q", len(bad), bad)
		}
	}
}
