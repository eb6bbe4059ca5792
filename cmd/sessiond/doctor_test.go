package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestDoctor_SaysWhatWouldBreakAndWhatToChange runs "sessiond doctor"
// through run on configurations with one mistake each, and on one without.
func TestDoctor_SaysWhatWouldBreakAndWhatToChange(t *testing.T) {
	legacy401 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) }))
	defer legacy401.Close()
	legacy200 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer legacy200.Close()
	db := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	cases := []struct {
		name string
		args []string
		want []string // in the output; none: exit status 0
	}{
		{"a working configuration", []string{"--url", "https://auth.example.com", "--allowed-origins", "https://app.example.com,https://*.example.com", "--legacy-validate-url", legacy401.URL}, nil},
		{"Secure cookie on a plain-HTTP origin", []string{"--allowed-origins", "http://app.example.com"}, []string{"PROBLEM  http://app.example.com is plain HTTP and not localhost", "--cookie-secure=false"}},
		{"cross-site origin", []string{"--url", "https://auth.example.com", "--allowed-origins", "https://app.example.net"}, []string{"allowed origin https://app.example.net is cross-site with https://auth.example.com", "third-party cookies"}},
		{"legacy backend that does not answer 401", []string{"--legacy-validate-url", legacy200.URL}, []string{"answers a request without cookies with 200, not 401"}},
		{"legacy backend down", []string{"--legacy-validate-url", "http://127.0.0.1:1/validate"}, []string{"does not answer"}},
		{"missing store directory", []string{"--store", "sqlite:" + filepath.Join(t.TempDir(), "no", "s.db")}, []string{"does not exist"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, err := cli(t, "", append([]string{"doctor", "--store", db}, c.args...)...)
			if c.want == nil {
				if err != nil || !strings.Contains(out, "\n0 problems") {
					t.Fatalf("doctor %v: %v\n%s%s", c.args, err, out, errOut)
				}
				return
			}
			if !errors.Is(err, errDoctor) || exitCode(err) != 1 {
				t.Fatalf("doctor %v: err %v, want exit status 1\n%s", c.args, err, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("doctor %v: output lacks %q:\n%s", c.args, w, out)
				}
			}
		})
	}
}

// TestDoctor_PostgreSQLDurabilityAndClock asks the test PostgreSQL for its
// settings and clock.
func TestDoctor_PostgreSQLDurabilityAndClock(t *testing.T) {
	url := testenv.Service(t, "SESSIOND_TEST_POSTGRES_URL")
	out, _, err := cli(t, "", "doctor", "--store", url)
	if err != nil || !strings.Contains(out, "keeps every commit") || !strings.Contains(out, "PostgreSQL's clock is within") {
		t.Fatalf("doctor on %s: %v\n%s", url, err, out)
	}
}

// TestDoctor_RedisDurabilityAndClock asks the test Redis for its
// settings and its clock; the shared test Redis need not be durable, so
// only the clock's line is required to pass.
func TestDoctor_RedisDurabilityAndClock(t *testing.T) {
	url := testenv.Service(t, "SESSIOND_TEST_REDIS_URL")
	out, _, err := cli(t, "", "doctor", "--store", url)
	if !strings.Contains(out, "ok       Redis's clock is within") {
		t.Fatalf("doctor on %s: %v\n%s", url, err, out)
	}
	if err != nil && !strings.Contains(out, "appendonly") && !strings.Contains(out, "appendfsync") {
		t.Fatalf("doctor on %s failed for another reason than durability: %v\n%s", url, err, out)
	}
}
