package jstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestJSPackages_AgainstARealSessiond builds the JavaScript packages of
// clients/js (@sessiond/client, @sessiond/react, @sessiond/next) and runs
// their type checks and Vitest suite, which start sessiond processes of
// their own from the binary built here (SESSIOND_BIN). Without Node it
// skips, and fails when SESSIOND_TEST_REQUIRE_SERVICES=1 (CI).
func TestJSPackages_AgainstARealSessiond(t *testing.T) {
	node := testenv.Tool(t, "node")
	npm := testenv.Tool(t, "npm")
	dir, err := filepath.Abs("../../clients/js")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "sessiond")
	if out, err := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "../../cmd/sessiond").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sessiond: %v\n%s", err, out)
	}

	// The Redis outage test runs a redis-server of its own; in CI a missing
	// one fails it like any other missing service.
	env := append(os.Environ(), "SESSIOND_BIN="+bin, "NO_COLOR=1", "FORCE_COLOR=0",
		"PATH="+filepath.Dir(node)+string(os.PathListSeparator)+os.Getenv("PATH"))
	run := func(name string, args ...string) {
		t.Helper()
		out := &lineLogger{t: t, prefix: "[npm " + name + "] "}
		cmd := exec.CommandContext(ctx, npm, args...)
		cmd.Dir = dir
		cmd.Env = env
		cmd.Stdout = out
		cmd.Stderr = out
		start := time.Now()
		err := cmd.Run()
		out.flush()
		if err != nil {
			t.Fatalf("npm %s in %s failed after %v: %v (its output is above)", strings.Join(args, " "), dir, time.Since(start).Round(time.Millisecond), err)
		}
		t.Logf("npm %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	}
	if stale, why := nodeModulesStale(dir); stale {
		t.Logf("running npm ci: %s", why)
		run("ci", "ci", "--no-audit", "--no-fund")
	}
	run("build", "run", "build")
	run("test", "test")
}

// nodeModulesStale reports whether clients/js/node_modules is missing or
// older than package-lock.json (npm writes node_modules/.package-lock.json
// on every install).
func nodeModulesStale(dir string) (bool, string) {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return true, err.Error()
	}
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return true, "node_modules is missing"
	}
	if installed.ModTime().Before(lock.ModTime()) {
		return true, fmt.Sprintf("node_modules (%v) is older than package-lock.json (%v)", installed.ModTime(), lock.ModTime())
	}
	return false, ""
}

// lineLogger streams a command's output into the test log, one line at a
// time as it comes (shown with -v, and with a failure).
type lineLogger struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if line := strings.TrimRight(string(l.buf[:i]), "\r"); strings.TrimSpace(line) != "" {
			l.t.Log(l.prefix + line)
		}
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) flush() {
	l.Write([]byte("\n"))
}
