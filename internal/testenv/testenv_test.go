package testenv

import (
	"strconv"
	"strings"
	"testing"
)

// TestSummary_NamesEachSkipAndHowToRunIt skips two subtests through Tool
// and Service and reads the summary line Main prints.
func TestSummary_NamesEachSkipAndHowToRunIt(t *testing.T) {
	t.Setenv("SESSIOND_TEST_REQUIRE_SERVICES", "")
	t.Setenv("SESSIOND_TEST_NOTHING_URL", "")
	defer func() {
		skips.mu.Lock()
		skips.byReason = nil
		skips.mu.Unlock()
	}()
	t.Run("tool", func(t *testing.T) { Tool(t, "no-such-tool-sessiond") })
	t.Run("service", func(t *testing.T) { Service(t, "SESSIOND_TEST_NOTHING_URL") })
	got := Summary()
	for _, want := range []string{
		"testenv: skipped 2 tests: ",
		"1: SESSIOND_TEST_NOTHING_URL is not set (it has no default) (set SESSIOND_TEST_NOTHING_URL; TestSummary_NamesEachSkipAndHowToRunIt/service)",
		"1: no-such-tool-sessiond is not installed (CI installs it; TestSummary_NamesEachSkipAndHowToRunIt/tool)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
}

// TestProbes_SayWhyAServiceIsNotThere: a closed port, a database that
// does not exist and a server that is not Redis are each named; the local
// servers, when they run, are found.
func TestProbes_SayWhyAServiceIsNotThere(t *testing.T) {
	closed := FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(closed)
	if err := probePostgres(addr, "postgres", "test"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("PostgreSQL on closed port %s: %v", addr, err)
	}
	if err := probeRedis(addr); err == nil {
		t.Errorf("Redis on closed port %s: no error", addr)
	}
	if probePostgres("127.0.0.1:5432", "postgres", "test") == nil {
		if err := probePostgres("127.0.0.1:5432", "postgres", "no_such_database_sessiond"); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("a missing database: %v", err)
		}
		if err := probeRedis("127.0.0.1:5432"); err == nil {
			t.Error("PostgreSQL passed for Redis")
		}
	}
}
