// Package testenv reads the addresses of the services that integration
// tests use. Without one the test is skipped, with a visible message, unless
// SESSIOND_TEST_REQUIRE_SERVICES=1 (as .ci/run sets), where it fails.
package testenv

import (
	"os"
	"testing"
)

// Service returns the value of the environment variable naming a service.
func Service(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("SESSIOND_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set and SESSIOND_TEST_REQUIRE_SERVICES=1", env)
		}
		t.Skipf("%s is not set: skipping", env)
	}
	return v
}
