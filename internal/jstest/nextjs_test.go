package jstest

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestNextJS_EndToEndInChromium runs the Playwright tests of the Next.js
// example (examples/nextjs/e2e) in Debian's Chromium: this sessiond built
// into a temporary directory, the JS packages of clients/js built, the app
// built once with next build and started with next start, and a real
// sessiond per test. Every step's output is in the failure message.
func TestNextJS_EndToEndInChromium(t *testing.T) {
	testenv.Tool(t, "node")
	npm := testenv.Tool(t, "npm")
	npx := testenv.Tool(t, "npx")
	chromium := testenv.Tool(t, "chromium")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(root, "clients", "js")
	app := filepath.Join(root, "examples", "nextjs")

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "sessiond")
	step(ctx, t, root, nil, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./cmd/sessiond")
	lockApp(ctx, t, app)

	// The app installs the packages as copies (examples/nextjs/.npmrc), so
	// it is installed again whenever its copies differ from a fresh build.
	if _, err := os.Stat(filepath.Join(js, "node_modules")); err != nil {
		step(ctx, t, js, nil, npm, "ci", "--no-audit", "--no-fund")
	}
	step(ctx, t, js, nil, npm, "run", "build")
	noDownload := []string{"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1", "NEXT_TELEMETRY_DISABLED=1"}
	if stale := staleCopies(js, app); stale != "" {
		t.Logf("installing examples/nextjs: %s", stale)
		step(ctx, t, app, noDownload, npm, "ci", "--no-audit", "--no-fund")
		if stale := staleCopies(js, app); stale != "" {
			t.Fatalf("after npm ci in examples/nextjs: %s", stale)
		}
	}

	// Rewrites are fixed at build time: the build and the run share
	// sessiond's address, and each test restarts sessiond on that port.
	env := append(noDownload,
		fmt.Sprintf("SESSIOND_URL=http://127.0.0.1:%d", testenv.FreePort(t)),
		fmt.Sprintf("APP_PORT=%d", testenv.FreePort(t)),
		"SESSIOND_BIN="+bin,
		"CHROMIUM="+chromium,
	)
	step(ctx, t, app, env, npx, "next", "build")
	step(ctx, t, app, env, npx, "playwright", "test")
}

// lockApp makes this run the only one that installs, builds and serves
// examples/nextjs (its node_modules and .next are in the checkout), until
// the test ends: another go test of this package waits here.
func lockApp(ctx context.Context, t *testing.T, app string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(app, ".e2e.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // releases the lock
	started := time.Now()
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if ctx.Err() != nil {
			t.Fatalf("examples/nextjs/.e2e.lock still held by another run after %s", time.Since(started).Round(time.Second))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if waited := time.Since(started); waited > time.Second {
		t.Logf("waited %s for another run of examples/nextjs", waited.Round(time.Second))
	}
}

// step runs one command in dir and fails the test with its whole output.
// The command and its children are one process group, ended together.
func step(ctx context.Context, t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	started := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left running
	}
	took := time.Since(started).Round(100 * time.Millisecond)
	if err != nil {
		t.Fatalf("%s %s (in %s, %s): %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, took, err, out.String())
	}
	t.Logf("%s %s: %s", filepath.Base(name), strings.Join(args, " "), took)
}

// staleCopies says how examples/nextjs/node_modules/@sessiond differs from
// the packages just built in clients/js, or "" when it does not.
func staleCopies(js, app string) string {
	for _, pkg := range []string{"client", "react", "next"} {
		src := filepath.Join(js, pkg)
		dst := filepath.Join(app, "node_modules", "@sessiond", pkg)
		for _, rel := range []string{"package.json", "dist"} {
			err := filepath.WalkDir(filepath.Join(src, rel), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || strings.HasSuffix(p, ".tsbuildinfo") { // not in "files"
					return err
				}
				r, _ := filepath.Rel(src, p)
				want, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if got, err := os.ReadFile(filepath.Join(dst, r)); err != nil || !bytes.Equal(got, want) {
					return fmt.Errorf("@sessiond/%s/%s differs from clients/js", pkg, r)
				}
				return nil
			})
			if err != nil {
				return err.Error()
			}
		}
	}
	return ""
}
