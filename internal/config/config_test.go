package config_test

import (
	"bytes"
	"flag"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/sessionhttp"
)

func TestREADME_ConfigurationTableMatchesTheFlags(t *testing.T) {
	var b bytes.Buffer
	config.Table(&b, config.Serve, config.Common)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), b.String()) {
		t.Fatalf("README's configuration table differs from the code; it should read:\n%s", b.String())
	}
}

func parse(t *testing.T, args []string, env map[string]string) (config.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	load := config.Register(fs, func(k string) string { return env[k] }, config.Common, config.Serve)
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	return load()
}

func TestDefaults_AreThoseDocumented(t *testing.T) {
	c, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.Store != "sqlite:sessiond.db" || c.Demo || c.CookieName != "sid" || !c.CookieSecure ||
		c.CookieSameSite != http.SameSiteLaxMode || c.IdentityHeaders != sessionhttp.DefaultIdentityHeaders() || c.Lifetime != 24*time.Hour || c.IdleTimeout != 2*time.Hour ||
		c.TouchInterval != time.Minute || c.CacheSize != 100000 || c.CacheTTL != 10*time.Second || c.GCHeapFloor != 32<<20 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFlagsWinOverEnvironmentWhichWinsOverDefaults(t *testing.T) {
	c, err := parse(t, []string{"--lifetime", "3h", "--demo"}, map[string]string{
		"SESSIOND_LIFETIME": "5h", "SESSIOND_IDLE_TIMEOUT": "30m", "SESSIOND_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Lifetime != 3*time.Hour || c.IdleTimeout != 30*time.Minute || !c.Demo || len(c.TrustedProxies) != 2 ||
		c.TrustedProxies[1].String() != "192.0.2.1/32" {
		t.Fatalf("%+v", c)
	}
}

func TestLegacyCookiesKeep_TakesDaysOrADuration(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "0": 0, "7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "30d": 30 * 24 * time.Hour} {
		args := []string{}
		if v != "" {
			args = []string{"--legacy-cookies-keep", v}
		}
		c, err := parse(t, args, nil)
		if err != nil || c.LegacyCookiesKeep != want {
			t.Errorf("--legacy-cookies-keep %q: %v, %v; want %v", v, c.LegacyCookiesKeep, err, want)
		}
	}
	for _, v := range []string{"31d", "721h", "-1h", "-1d", "7 d", "d", "1w"} {
		if _, err := parse(t, []string{"--legacy-cookies-keep", v}, nil); err == nil || !strings.Contains(err.Error(), "--legacy-cookies-keep") {
			t.Errorf("--legacy-cookies-keep %q: error %v, want one naming the flag", v, err)
		}
	}
}

func TestGCHeapFloor_TakesASizeAsGOMEMLIMITDoes(t *testing.T) {
	for v, want := range map[string]uint64{"0": 0, "1048576": 1 << 20, "512B": 512, "64KiB": 64 << 10, "64MiB": 64 << 20, "2GiB": 2 << 30, "1TiB": 1 << 40, "1024GiB": 1 << 40} {
		c, err := parse(t, []string{"--gc-heap-floor", v}, nil)
		if err != nil || c.GCHeapFloor != want {
			t.Errorf("--gc-heap-floor %q: %d, %v; want %d", v, c.GCHeapFloor, err, want)
		}
	}
	for _, v := range []string{"", "-1", "64 MiB", "64MB", "64mib", "MiB", "1.5GiB", "2TiB", "1099511627777", "20000000TiB", "18446744073709551616"} {
		if _, err := parse(t, []string{"--gc-heap-floor", v}, nil); err == nil || !strings.Contains(err.Error(), "--gc-heap-floor") {
			t.Errorf("--gc-heap-floor %q: error %v, want one naming the flag", v, err)
		}
	}
}

func TestLegacyCookies_NamesAndPatterns(t *testing.T) {
	c, err := parse(t, []string{"--legacy-cookies", "dott_*,session_token,onboard?ng,x[0-9]", "--legacy-credential-cookies", "dott_auth_session",
		"--legacy-validate-url", "http://old.example/check", "--migrate-on-get"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.LegacyCookies, ",") != "dott_*,session_token,onboard?ng,x[0-9]" || !c.MigrateOnGet {
		t.Fatalf("%+v", c)
	}
	for _, args := range [][]string{
		{"--legacy-cookies", "*"}, {"--legacy-cookies", "?x"}, {"--legacy-cookies", "a[b"}, {"--legacy-cookies", "a b"},
		{"--legacy-cookies", "a/b*"}, {"--legacy-cookies", "si*"}, {"--legacy-cookies", "__Secure-s*"},
		{"--legacy-credential-cookies", "dott_*"}, {"--migrate-on-get"},
	} {
		if _, err := parse(t, args, nil); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: error %v, want one naming %s", args, err, args[0])
		}
	}
}
