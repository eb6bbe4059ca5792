package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestConfig_ConfigurationThatCannotWorkIsRefusedNamingTheFlag: each of
// these would start a server that browsers or sessions cannot use.
func TestConfig_ConfigurationThatCannotWorkIsRefusedNamingTheFlag(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"cookie domain given as a URL", []string{"--cookie-domain", "https://example.com"}, "--cookie-domain"},
		{"cookie domain with a path", []string{"--cookie-domain", "example.com/app"}, "--cookie-domain"},
		{"idle timeout longer than the lifetime", []string{"--lifetime", "1h", "--idle-timeout", "2h"}, "--idle-timeout"},
		{"SameSite=None without Secure", []string{"--cookie-samesite", "none", "--cookie-secure=false"}, "--cookie-samesite"},
		{"origin with a path", []string{"--allowed-origins", "https://app.example.com/login"}, "--allowed-origins"},
		{"origin with a query", []string{"--allowed-origins", "https://app.example.com?x=1"}, "--allowed-origins"},
		{"origin without a scheme", []string{"--allowed-origins", "app.example.com"}, "--allowed-origins"},
		{"wildcard over a top-level domain", []string{"--allowed-origins", "https://*.com"}, "--allowed-origins"},
		{"wildcard not first", []string{"--allowed-origins", "https://app.*.example.com"}, "--allowed-origins"},
		{"header name with a space", []string{"--cors-allowed-headers", "X CSRF"}, "--cors-allowed-headers"},
		{"shadow period past the replay guard", []string{"--legacy-cookies-keep", "31d"}, "--legacy-cookies-keep"},
		{"negative shadow period", []string{"--legacy-cookies-keep", "-1h"}, "--legacy-cookies-keep"},
		{"shadow period in weeks", []string{"--legacy-cookies-keep", "1w"}, "--legacy-cookies-keep"},
		{"legacy cookie pattern without a literal prefix", []string{"--legacy-cookies", "*"}, "--legacy-cookies"},
		{"malformed legacy cookie pattern", []string{"--legacy-cookies", "dott_[a-"}, "--legacy-cookies"},
		{"legacy cookie pattern that takes the session cookie", []string{"--legacy-cookies", "dott_*,s*"}, "--legacy-cookies"},
		{"legacy cookie pattern that takes a __Host- session cookie", []string{"--cookie-name", "__Host-sid", "--legacy-cookies", "__*"}, "--legacy-cookies"},
		{"credential cookie as a pattern", []string{"--legacy-cookies", "dott_*", "--legacy-credential-cookies", "dott_*"}, "--legacy-credential-cookies"},
		{"migration on GET without an old backend", []string{"--migrate-on-get"}, "--migrate-on-get"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var errOut bytes.Buffer
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + filepath.Join(t.TempDir(), "s.db")}, c.args...)
			err := run(context.Background(), args, getenvFrom(nil), strings.NewReader(""), io.Discard, &errOut)
			if err == nil {
				t.Fatalf("serve %v started", c.args)
			}
			if msg := err.Error() + errOut.String(); !strings.Contains(msg, c.want) {
				t.Fatalf("serve %v: error %q does not name %s", c.args, msg, c.want)
			}
		})
	}
}

// TestCLI_AMistypedFlagSuggestsTheNearest through run, as a user types it.
func TestCLI_AMistypedFlagSuggestsTheNearest(t *testing.T) {
	_, errOut, err := cli(t, "", "serve", "--cokie-name", "x")
	if !errors.Is(err, errUsage) || !strings.Contains(errOut, "unknown flag --cokie-name; did you mean --cookie-name?\n") {
		t.Fatalf("err %v, stderr:\n%s", err, errOut)
	}
	_, errOut, _ = cli(t, "", "serve", "--frobnicate")
	if !strings.Contains(errOut, "unknown flag --frobnicate\n") || strings.Contains(errOut, "did you mean") {
		t.Fatalf("a flag like no other: %s", errOut)
	}
}

// TestServe_DemoListensOnLoopbackUnlessToldWhere: --demo without --listen
// takes 127.0.0.1:8080 (or fails naming it, when the port is taken on
// this machine), never every interface.
func TestServe_DemoListensOnLoopbackUnlessToldWhere(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &testenv.Buffer{}
	db := filepath.Join(t.TempDir(), "s.db")
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--store", "sqlite:" + db}, getenvFrom(nil), strings.NewReader(""), io.Discard, stderr)
	}()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(stderr.String(), `"msg":"listening"`) {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "listen on 127.0.0.1:8080 ") {
				t.Fatalf("serve --demo ended: %v\n%s", err, stderr)
			}
			return // port 8080 is taken here, but the address was loopback
		case <-deadline:
			t.Fatalf("serve --demo did not listen within 20s:\n%s", stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if log := stderr.String(); !strings.Contains(log, `"addr":"127.0.0.1:8080"`) || !strings.Contains(log, "listening on loopback only") {
		t.Fatalf("serve --demo did not say it listens on loopback only:\n%s", log)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestServe_SIGHUPDoesNotStopTheServer sends SIGHUP to this process, where
// the server runs through run: it logs that a restart changes settings and
// keeps answering.
func TestServe_SIGHUPDoesNotStopTheServer(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "the SIGHUP log line", func() bool {
		return strings.Contains(p.stderr.String(), "SIGHUP ignored; restart to change settings")
	})
	res, err := http.Get(p.url + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /healthz after SIGHUP: %v %v", res, err)
	}
	res.Body.Close()
	if err := p.stop(); err != nil {
		t.Fatalf("stop after SIGHUP: %v", err)
	}
}

// TestServe_ASQLiteFileThatCannotBeOpenedSaysWhy: the driver says "unable
// to open database file"; sessiond says which of these it is.
func TestServe_ASQLiteFileThatCannotBeOpenedSaysWhy(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "notes.txt")
	os.WriteFile(junk, []byte("these are my notes, not a database, and they are long enough"), 0o600)
	cases := []struct{ name, path, want string }{
		{"missing directory", filepath.Join(dir, "no", "such", "s.db"), "the directory " + filepath.Join(dir, "no", "such") + " does not exist"},
		{"not a database", junk, junk + ": not an SQLite database"},
		{"a directory", dir, dir + " is a directory, not a database file"},
	}
	if os.Geteuid() != 0 {
		locked := filepath.Join(dir, "locked")
		os.Mkdir(locked, 0o500)
		cases = append(cases, struct{ name, path, want string }{"directory not writable", filepath.Join(locked, "s.db"), "cannot create the database in " + locked + ": "})
	} else {
		t.Log("running as root: the permission case cannot fail here and is not run")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, err := cli(t, "", "purge", "--store", "sqlite:"+c.path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("purge --store sqlite:%s: %v, want %q\n%s", c.path, err, c.want, errOut)
			}
		})
	}
}

// TestCORS_WildcardOriginsMatchOneLabelAndExtraHeadersAreAllowed starts a
// server trusting https://*.example.com and reads what a browser would:
// the preflight's answer and the cross-origin check of a login.
func TestCORS_WildcardOriginsMatchOneLabelAndExtraHeadersAreAllowed(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"),
		"--allowed-origins", "https://*.example.com,https://app.test", "--cors-allowed-headers", "X-CSRFToken")
	cases := []struct {
		origin  string
		allowed bool
	}{
		{"https://a.example.com", true},
		{"https://preview-42.example.com", true},
		{"https://app.test", true},
		{"https://a.b.example.com", false},
		{"https://example.com", false},
		{"https://evilexample.com", false},
		{"http://a.example.com", false},
		{"https://a.example.com:8443", false},
		{"https://a.example.com.evil.test", false},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("OPTIONS", p.url+"/api/auth/session-v2", nil)
		req.Header.Set("Origin", c.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-csrftoken")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		if got := h.Get("Access-Control-Allow-Origin") == c.origin; got != c.allowed {
			t.Errorf("preflight from %s: Allow-Origin %q, want allowed=%v", c.origin, h.Get("Access-Control-Allow-Origin"), c.allowed)
		}
		if c.allowed && (h.Get("Access-Control-Allow-Headers") != "Content-Type, X-CSRFToken" || h.Get("Access-Control-Expose-Headers") != "Retry-After") {
			t.Errorf("preflight from %s: Allow-Headers %q, Expose-Headers %q", c.origin, h.Get("Access-Control-Allow-Headers"), h.Get("Access-Control-Expose-Headers"))
		}

		req, _ = http.NewRequest("POST", p.url+"/api/auth/session-v2", strings.NewReader(`{"email":"test@example.com","password":"password"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", c.origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := map[bool]int{true: 200, false: 403}[c.allowed]; res.StatusCode != want {
			t.Errorf("cross-site login from %s: %d, want %d", c.origin, res.StatusCode, want)
		}
		if c.allowed && res.Header.Get("Access-Control-Expose-Headers") != "Retry-After" {
			t.Errorf("login from %s: no Access-Control-Expose-Headers: Retry-After", c.origin)
		}
	}
}
