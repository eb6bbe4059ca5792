package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startCaddy runs Debian's caddy with examples/caddy/Caddyfile, its
// addresses pointed at this test's sessiond and application.
func startCaddy(t *testing.T, sessiondAddr, appAddr string) string {
	bin := needTool(t, "caddy")
	dir := t.TempDir()
	example, err := os.ReadFile("../../examples/caddy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
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
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not start:\n%s", out)
		}
	}
}

// TestCaddy_ForwardAuthMigratesLegacyCookiesAndGuardsTheApp runs the
// shipped Caddyfile: legacy cookies in, one redirect, only sid left, the
// identity seen by the application and spoofed copies dropped, logout, then
// 401 through Caddy; a forged legacy cookie is cleared.
func TestCaddy_ForwardAuthMigratesLegacyCookiesAndGuardsTheApp(t *testing.T) {
	legacy := newLegacyApp(t)
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"), "--cookie-secure=false", "--trusted-proxies", "127.0.0.1/32",
		"--legacy-validate-url", legacy.backend.URL)
	site := startCaddy(t, strings.TrimPrefix(p.url, "http://"), strings.TrimPrefix(legacy.app.URL, "http://"))
	u, _ := url.Parse(site)

	b := newBrowser(t)
	b.Jar.SetCookies(u, []*http.Cookie{
		{Name: "dott_auth_session", Value: "old-session-of-maria"},
		{Name: "onboarding_status", Value: "done"},
		{Name: "businessInfoCompleted", Value: "true"},
		{Name: "theme", Value: "dark"},
	})
	status, body := b.get(t, site+"/orders?page=2", "X-User-Id", "admin", "X-Tenant-Id", "root")
	if status != 200 || body != `app page /orders for "maria-7"` {
		t.Fatalf("first visit: %d %q", status, body)
	}
	if b.redirects != 1 {
		t.Fatalf("%d redirects, want exactly one", b.redirects)
	}
	var names []string
	for _, c := range b.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "theme,sid" && strings.Join(names, ",") != "sid,theme" {
		t.Fatalf("cookies after migration: %v, want only sid besides the unrelated theme", names)
	}
	h := legacy.last()
	if h.Get("X-User-Id") != "maria-7" || h.Get("X-Tenant-Id") != "bakery" || h.Get("X-User-Email") != "maria@example.com" ||
		len(h.Values("X-User-Id")) != 1 || len(h.Values("X-Tenant-Id")) != 1 || h.Get("X-Session-Id") == "" {
		t.Fatalf("the application saw identity headers %v", h)
	}
	b.get(t, site+"/profile", "X-User-Id", "admin")
	if h := legacy.last(); h.Get("X-User-Id") != "maria-7" || len(h.Values("X-User-Id")) != 1 {
		t.Fatalf("spoofed X-User-Id reached the app: %v", h)
	}

	req, _ := http.NewRequest("DELETE", site+"/api/auth/session-v2", nil)
	res, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 {
		t.Fatalf("logout through caddy: %d", res.StatusCode)
	}
	before := legacy.count()
	if status, _ := b.get(t, site+"/orders", "X-User-Id", "maria-7"); status != 401 {
		t.Fatalf("after logout: %d, want 401", status)
	}
	if legacy.count() != before {
		t.Fatal("the application was reached without a session")
	}

	s := newBrowser(t)
	s.Jar.SetCookies(u, []*http.Cookie{{Name: "dott_auth_session", Value: "forged"}})
	if status, _ := s.get(t, site+"/orders"); status != 401 || len(s.Jar.Cookies(u)) != 0 {
		t.Fatalf("forged legacy cookie: %d, cookies left %v", status, s.Jar.Cookies(u))
	}
	if legacy.count() != before {
		t.Fatal("the application was reached with a forged legacy cookie")
	}
}
