// Package testenv reads the addresses of the services that integration
// tests use, or finds them on their default local ports. Without one the
// test is skipped, with a visible message and a line in the package's
// summary (Main), unless SESSIOND_TEST_REQUIRE_SERVICES=1 (as .ci/run
// sets), where it fails.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Service returns the value of the environment variable naming a service.
// When it is unset, SESSIOND_TEST_POSTGRES_URL and SESSIOND_TEST_REDIS_URL
// fall back to a local server on the default port, if one answers there
// (postgres://postgres@127.0.0.1:5432/test?sslmode=disable,
// redis://127.0.0.1:6379/0). A skip is recorded for Summary.
func Service(t testing.TB, env string) string {
	t.Helper()
	v, why := lookup(env)
	if v == "" {
		if os.Getenv("SESSIOND_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s and SESSIOND_TEST_REQUIRE_SERVICES=1", why)
		}
		recordSkip(t.Name(), why, "set "+env)
		t.Skipf("%s: skipping", why)
	}
	return v
}

// Tool returns the path of a program the test needs (redis-server, nginx,
// caddy…), also looked for in /usr/sbin. Without it the test is skipped,
// or fails when SESSIOND_TEST_REQUIRE_SERVICES=1 (as in CI).
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	if os.Getenv("SESSIOND_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is not installed and SESSIOND_TEST_REQUIRE_SERVICES=1", name)
	}
	recordSkip(t.Name(), name+" is not installed", "CI installs it")
	t.Skipf("%s is not installed: skipping (CI installs it)", name)
	return ""
}

// WithParam adds a query parameter ("name=value") to a store URL.
func WithParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

// FreePort returns a loopback port that nothing listens on, for a server
// of the test's own.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
