package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
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

func TestAppendTime_MatchesEncodingJSON(t *testing.T) {
	east := time.FixedZone("east", 5*3600+30*60)
	zeroName := time.FixedZone("", 0)
	base := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC),
		time.Date(2026, 5, 6, 7, 8, 9, 100000000, time.UTC),
		time.Date(2026, 5, 6, 7, 8, 9, 120000, time.UTC),
		time.Date(2026, 5, 6, 7, 8, 9, 1, time.UTC),
		time.Date(2026, 11, 30, 23, 0, 0, 123456000, east),
		time.Date(2026, 11, 30, 23, 0, 0, 123456000, zeroName),
		time.Now(),
		time.Now().Local(),
		time.Now().UTC(),
		time.Now().Truncate(time.Microsecond),
	}
	for i := range 2000 {
		// Spread over the years, every month and day, and fractions of
		// every length.
		base = append(base, time.Unix(int64(i)*15_778_463+int64(i%60), int64(i)*7_919_333%1_000_000_000).UTC())
	}
	for _, at := range base {
		want, err := json.Marshal(at)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTime(nil, at); !bytes.Equal(got, want) {
			t.Errorf("appendTime(%v) = %s, want %s", at, got, want)
		}
	}
}

func TestDeviceLabels_MatchDeviceLabel(t *testing.T) {
	d := newDeviceLabels()
	agents := []string{"", "curl/8.0", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"}
	for i := range 1000 {
		agents = append(agents, "agent/"+strconv.Itoa(i)+" (Windows)") // more agents than slots: replaced and read again
	}
	for range 2 {
		for _, ua := range agents {
			if got, want := d.label(ua), (&sessiond.Session{UserAgent: ua}).Device(); got != want {
				t.Fatalf("label(%q) = %q, want %q", ua, got, want)
			}
		}
	}
}

func BenchmarkAppendSession(b *testing.B) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	r := sessionResponse{Authenticated: true,
		User: userJSON{ID: "51f8ca69-8b65-414a-bb29-055aa57ac251", Email: "test@example.com", TenantID: "demo", Attributes: emptyObject},
		Session: sessionJSON{ID: "6e588339-fda6-4a04-b3fd-7193cabe7b7a", CreatedAt: at, LastActivity: at, ExpiresAt: at, IdleExpiresAt: at,
			AuthenticatedAt: at, IPAddress: "127.0.0.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36",
			Device: "Chrome on Linux", Flags: noFlags},
		Data: emptyObject}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendSession(buf[:0], r)
	}
}
