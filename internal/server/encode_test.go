package server

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestEncode_MatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for _, r := range []sessionResponse{
		{},
		{
			Authenticated: true,
			User: userJSON{ID: "u1", Email: "a\"b\\c<d>&e\u2028f\u2029@example.com", TenantID: "t\x00\x1f\n\r\t", NeedsOnboarding: true, OnboardingStep: "stép ✓",
				Attributes: json.RawMessage(`{"plan":"pro","roles":["admin"]}`)},
			Session: sessionJSON{ID: "s1", CreatedAt: at, LastActivity: at.Add(time.Second), ExpiresAt: at.Add(time.Hour),
				IdleExpiresAt: at.Add(2 * time.Hour), AuthenticatedAt: at.Local(), IPAddress: "::1", UserAgent: "bad \xff\xfe utf8",
				Device: "Chrome on macOS", Flags: []string{"new_device", "ip_changed"}},
			Data:        json.RawMessage(`{"a":[1,2,{"b":null}],"c":"d"}`),
			DataVersion: 42,
		},
	} {
		if r.Data == nil {
			r.Data = json.RawMessage(`{}`)
		}
		if r.User.Attributes == nil {
			r.User.Attributes = json.RawMessage(`{}`) // as sessionBody fills it
		}
		if r.Session.Flags == nil {
			r.Session.Flags = []string{}
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendSession(nil, r); !bytes.Equal(got, want) {
			t.Errorf("hand encoder differs:\n got %s\nwant %s", got, want)
		}
	}
}
