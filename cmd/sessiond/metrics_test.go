package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/redistest"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestMetrics_WebhookDeliveriesAreCounted: a login's events reach a
// webhook endpoint, and /metrics counts the deliveries and times them.
func TestMetrics_WebhookDeliveriesAreCounted(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	dir := t.TempDir()
	secret := filepath.Join(dir, "webhook-secret")
	os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef"), 0o600)
	p := startServer(t, filepath.Join(dir, "s.db"), "--webhook-url", hook.URL, "--webhook-secret-file", secret)
	client{t, p.url}.login("test@example.com", "password")
	delivered := regexp.MustCompile(`(?m)^sessiond_webhook_deliveries_total\{outcome="delivered"\} [1-9]`)
	timed := regexp.MustCompile(`(?m)^sessiond_webhook_delivery_duration_seconds_count [1-9]`)
	var body string
	testenv.WaitFor(t, 10*time.Second, "a delivered webhook in "+p.url+"/metrics", func() bool {
		res, err := http.Get(p.url + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body = string(b)
		return delivered.MatchString(body) && timed.MatchString(body)
	})
}

// TestMetrics_StoreCallsAreTimedAndFailuresCounted: every store call is
// timed by operation, and a store that is gone shows as failures of the
// operations that met it (the request itself answers 503).
func TestMetrics_StoreCallsAreTimedAndFailuresCounted(t *testing.T) {
	redis := redistest.Own(t)
	p := startNode(t, redis.URL, "--cache-size", "0")
	c := client{t, p.url}
	token := c.login("test@example.com", "password")
	if got := c.status(token); got != http.StatusOK {
		t.Fatalf("GET session on %s = %d, want 200", p.url, got)
	}
	scrape := func() string {
		res, err := http.Get(p.url + "/metrics")
		if err != nil {
			t.Fatalf("GET %s/metrics: %v", p.url, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	timed := regexp.MustCompile(`(?m)^sessiond_store_operation_duration_seconds_count\{op="(CreateSessionLimited|CreateSession)"\} [1-9]`)
	read := regexp.MustCompile(`(?m)^sessiond_store_operation_duration_seconds_count\{op="Session(AndUser)?ByTokenHash"\} [1-9]`)
	if body := scrape(); !timed.MatchString(body) || !read.MatchString(body) {
		t.Fatalf("after a login and a GET, %s/metrics times no session creation or read:\n%s", p.url, grepLines(body, "sessiond_store_"))
	}
	if body := scrape(); regexp.MustCompile(`(?m)^sessiond_store_errors_total\{[^}]*\} [1-9]`).MatchString(body) {
		t.Fatalf("store failures counted while the store answered:\n%s", grepLines(body, "sessiond_store_errors_total"))
	}

	redis.Kill()
	if got := c.status(token); got != http.StatusServiceUnavailable {
		t.Fatalf("GET session on %s with its Redis killed = %d, want 503", p.url, got)
	}
	failed := regexp.MustCompile(`(?m)^sessiond_store_errors_total\{op="Session(AndUser)?ByTokenHash"\} [1-9]`)
	if body := scrape(); !failed.MatchString(body) {
		t.Fatalf("a GET that met a dead store answered 503, but %s/metrics counts no failed read:\n%s", p.url, grepLines(body, "sessiond_store_"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
