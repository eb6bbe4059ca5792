package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// startCaddy runs Debian's caddy with examples/caddy/Caddyfile, its
// addresses pointed at this test's sessiond and application.
func startCaddy(t *testing.T, sessiondAddr, appAddr string) string {
	bin := testenv.Tool(t, "caddy")
	dir := t.TempDir()
	example, err := os.ReadFile("../../examples/caddy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	site := strings.NewReplacer(
		"127.0.0.1:8080", sessiondAddr,
		"127.0.0.1:3000", appAddr,
		"http://:80 {", "http://"+addr+" {",
	).Replace(string(example))
	path := filepath.Join(dir, "Caddyfile")
	os.WriteFile(path, []byte(site), 0o644)
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	// Caddy keeps state under the home and XDG directories: the test's own.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	serveUntilListening(t, "caddy", cmd, addr, "")
	return "http://" + addr
}

// TestCaddy_ForwardAuthMigratesLegacyCookiesAndGuardsTheApp runs the
// shipped Caddyfile through the same scenario as the nginx test.
func TestCaddy_ForwardAuthMigratesLegacyCookiesAndGuardsTheApp(t *testing.T) {
	legacy := newLegacyApp(t)
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"), "--cookie-secure=false", "--trusted-proxies", "127.0.0.1/32",
		"--legacy-validate-url", legacy.backend.URL)
	site := startCaddy(t, strings.TrimPrefix(p.url, "http://"), strings.TrimPrefix(legacy.app.URL, "http://"))
	proxyGuardsTheApp(t, "caddy", site, legacy)
}
