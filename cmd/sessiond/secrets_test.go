package main

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestLogs_NoSecretOfAURLReachesTheLog_SEC31 runs a server whose store URL
// carries a password and whose webhook and legacy-validation URLs carry
// secrets in their path and query, makes both of those fail (they point at
// a port nobody listens on), and greps the whole log for the secrets.
func TestLogs_NoSecretOfAURLReachesTheLog_SEC31(t *testing.T) {
	store, err := url.Parse(postgresStore(t))
	if err != nil {
		t.Fatal(err)
	}
	// The test PostgreSQL trusts local connections: the password is not
	// checked, but it is in the URL as it would be in production.
	store.User = url.UserPassword(store.User.Username(), "pg-pass-5ecret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nobody listens there now
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook-secret")
	os.WriteFile(secretFile, []byte("a-webhook-secret-key-0123456789"), 0o600)
	secrets := []string{"pg-pass-5ecret", "T0HOOK9path5ecret7x", "tok-5ecret-query", "legacy-cookie-5ecret"}

	p := startNode(t, store.String(), "--log-level", "debug",
		"--webhook-url", "http://"+closed+"/services/T0HOOK9path5ecret7x?sig=tok-5ecret-query", "--webhook-secret-file", secretFile,
		"--legacy-validate-url", "http://"+closed+"/validate?token=tok-5ecret-query")
	c := client{t, p.url}
	c.login("test@example.com", "password") // an event for the webhook
	req, _ := http.NewRequest("POST", p.url+"/api/auth/migrate-session", nil)
	req.Header.Set("Cookie", "dott_auth_session=legacy-cookie-5ecret")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("migration with the old backend down: %d, want 503", res.StatusCode)
		}
	}
	// Wait until both failures are logged, then stop the server so that
	// everything it would log is there.
	testenv.WaitFor(t, 20*time.Second, "the webhook and legacy backend failures in the log", func() bool {
		log := p.stderr.String()
		return strings.Contains(log, "legacy backend error") && strings.Contains(log, "webhook")
	})
	p.stop()
	log := p.stderr.String()
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the log holds the secret %q:\n%s", s, log)
		}
	}
	if !strings.Contains(log, "REDACTED") {
		t.Errorf("no URL was logged redacted; the test no longer sees what it checks:\n%s", log)
	}
}
