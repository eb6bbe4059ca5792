package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestChromium_LegacyCookiesOnHostAndParentDomainEndAsOnlySid drives
// Debian's headless Chromium through sessiond's reverse-proxy mode: legacy
// cookies set on app.example.test and on .example.test, one page load, and
// sid is the only cookie left for the site.
func TestChromium_LegacyCookiesOnHostAndParentDomainEndAsOnlySid(t *testing.T) {
	chromium := testenv.Tool(t, "chromium")
	legacy := newLegacyApp(t)
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"), "--cookie-secure=false",
		"--upstream", legacy.app.URL, "--legacy-validate-url", legacy.backend.URL, "--legacy-cookie-domain", "example.test")
	port := p.url[strings.LastIndex(p.url, ":")+1:]
	site := "http://app.example.test:" + port

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The test's own names: every *.example.test is this machine.
		chromedp.Flag("host-resolver-rules", "MAP *.example.test 127.0.0.1, MAP example.test 127.0.0.1"),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	set := func(p network.SetCookieParams) {
		t.Helper()
		if _, err := chromedp.Call(ctx, network.SetCookie, p); err != nil {
			t.Fatalf("set cookie %s: %v", p.Name, err)
		}
	}
	set(network.SetCookieParams{Name: "dott_auth_session", Value: "old-session-of-maria", URL: site + "/"})
	set(network.SetCookieParams{Name: "session_token", Value: "legacy-backend-token", URL: site + "/"})
	for _, name := range []string{"onboarding_status", "businessInfoCompleted", "onboardingStep", "dott_auth_session"} {
		set(network.SetCookieParams{Name: name, Value: "on-parent", Domain: ".example.test", Path: "/"})
	}
	before, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{site + "/dashboard"}})
	if err != nil || len(before.Cookies) != 6 {
		t.Fatalf("cookies before the visit: %d, %v; want the 6 legacy cookies", len(before.Cookies), err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(site+"/dashboard")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	after, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{site + "/dashboard"}})
	if err != nil {
		t.Fatal(err)
	}
	cookies := after.Cookies
	if !strings.Contains(body, `app page /dashboard for "maria-7"`) {
		t.Fatalf("page after migration: %q", body)
	}
	var names []string
	for _, c := range cookies {
		names = append(names, fmt.Sprintf("%s@%s", c.Name, c.Domain))
	}
	sort.Strings(names)
	if len(cookies) != 1 || cookies[0].Name != "sid" || len(cookies[0].Value) != 36 || !cookies[0].HTTPOnly {
		t.Fatalf("cookies for %s after one page load: %v, want only sid (HttpOnly, 36 characters)", site, names)
	}
}
