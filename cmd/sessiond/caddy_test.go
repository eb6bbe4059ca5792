package main

import (
	"fmt"
	"net/http"
	"net/url"
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

// TestCaddy_NoSpellingOfAnIdentityHeaderReachesAWSGIApp_SEC28 runs the
// shipped Caddyfile in front of a WSGI-style application. Caddy passes
// headers with underscores on (nginx drops them): the Caddyfile must drop
// X_User_Id and every other spelling itself. The application's own
// Set-Cookie for the session cookie never reaches the browser.
func TestCaddy_NoSpellingOfAnIdentityHeaderReachesAWSGIApp_SEC28(t *testing.T) {
	app := testenv.WSGIApp(t)
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"), "--cookie-secure=false", "--trusted-proxies", "127.0.0.1/32")
	site := startCaddy(t, strings.TrimPrefix(p.url, "http://"), strings.TrimPrefix(app.URL, "http://"))
	proxyVouchesOnly(t, "caddy", site)

	// The application tries to set the session cookie, in every spelling a
	// browser would keep as it or send back as it.
	res, err := http.Post(site+"/api/auth/session-v2", "application/json", strings.NewReader(`{"email":"test@example.com","password":"password"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	sid, _, _ := strings.Cut(res.Header.Get("Set-Cookie"), ";")
	forged := []string{"sid=from-the-app; Path=/", "SID=from-the-app", "__Host-sid=from-the-app; Path=/; Secure",
		"__secure-sid=from-the-app; Secure", " sid =from-the-app", "=sid=from-the-app", "sid"}
	kept := []string{"theme=dark; Path=/", "sidebar=open"}
	q := url.Values{"c": append(append([]string{}, forged...), kept...)}
	req, _ := http.NewRequest("GET", site+"/set-cookie?"+q.Encode(), nil)
	req.Header.Set("Cookie", sid)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var got []string
	for _, line := range res.Header.Values("Set-Cookie") {
		// The Caddyfile turns a refused line into one that deletes a
		// cookie nobody has.
		if line != "sessiond-refused=; Max-Age=0" {
			got = append(got, line)
		}
	}
	if res.StatusCode != 200 || strings.Join(got, "\n") != strings.Join(kept, "\n") || len(res.Header.Values("Set-Cookie")) != len(forged)+len(kept) {
		t.Fatalf("GET /set-cookie through caddy: %d, the browser got Set-Cookie %q, want only %q (all lines: %q)", res.StatusCode, got, kept, res.Header.Values("Set-Cookie"))
	}
}
