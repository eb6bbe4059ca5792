package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

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
