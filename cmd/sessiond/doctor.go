package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/redact"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/sqlitestore"
)

// errDoctor is doctor's exit status 1: something it checked would break.
var errDoctor = errors.New("the configuration has problems that would break sessions (above)")

// maxClockSkew is the largest difference between this machine's clock and
// the store's that doctor lets pass: lifetimes and idle timeouts are
// compared across both.
const maxClockSkew = 2 * time.Second

// doctorReport collects findings: a problem breaks something and makes
// the exit status 1, a warning is worth a look.
type doctorReport struct {
	w                  io.Writer
	problems, warnings int
}

func (r *doctorReport) ok(format string, a ...any) {
	fmt.Fprintf(r.w, "ok       %s\n", fmt.Sprintf(format, a...))
}

func (r *doctorReport) warn(msg, fix string) {
	r.warnings++
	fmt.Fprintf(r.w, "warning  %s\n         change: %s\n", msg, fix)
}

func (r *doctorReport) problem(msg, fix string) {
	r.problems++
	fmt.Fprintf(r.w, "PROBLEM  %s\n         change: %s\n", msg, fix)
}

func doctorFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	public := fs.String("url", "", "the URL browsers reach sessiond at (https://auth.example.com), to check that the allowed origins are same-site with it")
	return func(e env, cfg config.Config, _ *flag.FlagSet) error {
		r := &doctorReport{w: e.stdout}
		doctorCookie(r, cfg, *public)
		doctorStore(e.ctx, r, cfg)
		doctorLegacy(e.ctx, r, cfg)
		fmt.Fprintf(e.stdout, "\n%d problems, %d warnings\n", r.problems, r.warnings)
		if r.problems > 0 {
			return errDoctor
		}
		return nil
	}
}

// doctorCookie: would browsers keep the cookie and send it from the
// allowed origins?
func doctorCookie(r *doctorReport, cfg config.Config, public string) {
	if _, err := sessionhttp.NewCookies(sessionhttp.CookieConfig{
		Name: cfg.CookieName, Domain: cfg.CookieDomain, Insecure: !cfg.CookieSecure, SameSite: cfg.CookieSameSite,
	}); err != nil {
		r.problem("the cookie settings are refused: "+err.Error(), "--cookie-name, --cookie-domain or --cookie-secure as the message says")
	} else {
		r.ok("cookie %s: Secure=%v, SameSite=%s, domain %q", cfg.CookieName, cfg.CookieSecure, config.SameSiteName(cfg.CookieSameSite), cfg.CookieDomain)
	}
	if !cfg.CookieSecure {
		r.warn("the cookie is not Secure: fine on plain-HTTP development machines, a risk anywhere else", "--cookie-secure=true in production")
	}
	var sites []string
	if public != "" {
		u, err := url.Parse(public)
		if err != nil || u.Host == "" {
			r.problem(fmt.Sprintf("--url %q is not a URL", public), "--url https://auth.example.com")
			return
		}
		sites = append(sites, public)
	}
	for _, o := range cfg.AllowedOrigins {
		sites = append(sites, o)
	}
	for _, s := range sites {
		u, _ := url.Parse(strings.Replace(s, "://*.", "://wildcard.", 1))
		if cfg.CookieSecure && u.Scheme == "http" && !isLocalhost(u.Hostname()) {
			r.problem(fmt.Sprintf("%s is plain HTTP and not localhost: browsers do not keep or send a Secure cookie there", s),
				"serve "+s+" over HTTPS, or --cookie-secure=false on a development machine")
		}
	}
	if public == "" {
		if len(cfg.AllowedOrigins) > 0 {
			r.warn("cannot tell whether the allowed origins are same-site with sessiond", "give --url, the address browsers reach sessiond at")
		}
		return
	}
	pu, _ := url.Parse(public)
	for _, o := range cfg.AllowedOrigins {
		ou, _ := url.Parse(strings.Replace(o, "://*.", "://wildcard.", 1))
		if site(ou.Hostname()) != site(pu.Hostname()) || ou.Scheme != pu.Scheme {
			r.problem(fmt.Sprintf("allowed origin %s is cross-site with %s: browsers that block third-party cookies (Safari, Firefox, Chrome's) never send the %s cookie from it, and SameSite=%s keeps it off cross-site requests anyway: logins answer 200 and every request after is a 401", o, public, cfg.CookieName, config.SameSiteName(cfg.CookieSameSite)),
				"serve sessiond under the application's site (a subdomain, or a path through its proxy: Next.js rewrites())")
		} else {
			r.ok("allowed origin %s is same-site with %s", o, public)
		}
	}
}

func isLocalhost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// site approximates a host's registrable domain with its last two labels
// (no public suffix list: a.github.io and b.github.io look same-site here).
func site(host string) string {
	if net.ParseIP(host) != nil {
		return host
	}
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(host), "."), ".")
	if len(labels) > 2 {
		labels = labels[len(labels)-2:]
	}
	return strings.Join(labels, ".")
}

// doctorStore: does the store keep writes across a restart, and does its
// clock agree with this machine's?
func doctorStore(ctx context.Context, r *doctorReport, cfg config.Config) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store := redact.URL(cfg.Store)
	switch {
	case strings.HasPrefix(cfg.Store, "sqlite:"):
		path := strings.TrimPrefix(cfg.Store, "sqlite:")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
				r.problem(fmt.Sprintf("the directory of %s does not exist", path), "create it, or give --store another path")
				return
			}
			r.ok("SQLite %s will be created at start (synchronous=FULL: every commit is on disk)", path)
			return
		}
		s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
		if err != nil {
			r.problem("the store cannot be opened: "+err.Error(), "--store")
			return
		}
		s.Close()
		r.ok("SQLite %s opens; synchronous=FULL: every commit is on disk; its clock is this machine's", path)
	case strings.HasPrefix(cfg.Store, "redis://"), strings.HasPrefix(cfg.Store, "rediss://"):
		s, err := redisstore.Open(ctx, cfg.Store, redisstore.Options{})
		if err != nil {
			r.problem(fmt.Sprintf("Redis %s cannot be opened: %v", store, err), "--store, or start Redis")
			return
		}
		defer s.Close()
		warns := s.Check(ctx)
		for _, w := range warns {
			r.problem(w, "the Redis configuration (redis.conf or CONFIG SET), as the message says")
		}
		if len(warns) == 0 {
			r.ok("Redis %s keeps every write across a restart (appendonly yes, appendfsync always, noeviction)", store)
		}
		before := time.Now()
		now, err := s.Clock(ctx)
		if err != nil {
			r.problem(fmt.Sprintf("Redis %s: %v", store, err), "--store")
			return
		}
		checkClock(r, "Redis", now, before.Add(time.Since(before)/2))
	default:
		conn, err := pgx.Connect(ctx, cfg.Store)
		if err != nil {
			r.problem(fmt.Sprintf("PostgreSQL %s does not answer: %v", store, err), "--store, or start PostgreSQL")
			return
		}
		defer conn.Close(context.Background())
		var now time.Time
		var fsync, syncCommit string
		before := time.Now()
		if err := conn.QueryRow(ctx, `SELECT now(), current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&now, &fsync, &syncCommit); err != nil {
			r.problem(fmt.Sprintf("PostgreSQL %s: %v", store, err), "--store")
			return
		}
		mid := before.Add(time.Since(before) / 2)
		if fsync != "on" || syncCommit == "off" {
			r.problem(fmt.Sprintf("PostgreSQL %s: fsync=%s, synchronous_commit=%s: a crash loses the last commits (a logout lost is a session back)", store, fsync, syncCommit),
				"fsync = on and synchronous_commit = on in postgresql.conf")
		} else {
			r.ok("PostgreSQL %s keeps every commit (fsync=%s, synchronous_commit=%s)", store, fsync, syncCommit)
		}
		checkClock(r, "PostgreSQL", now, mid)
	}
}

// checkClock compares the store's clock, read at local time mid, with
// this machine's.
func checkClock(r *doctorReport, name string, now, mid time.Time) {
	if skew := now.Sub(mid).Abs(); skew > maxClockSkew {
		r.problem(fmt.Sprintf("%s's clock is %v away from this machine's: sessions end early or late by as much", name, skew.Round(time.Millisecond)),
			"run NTP (systemd-timesyncd, chrony) on both machines")
	} else {
		r.ok("%s's clock is within %v of this machine's", name, maxClockSkew)
	}
}

// doctorLegacy: the old backend must answer a request without cookies
// with a 401, quickly.
func doctorLegacy(ctx context.Context, r *doctorReport, cfg config.Config) {
	if cfg.LegacyValidateURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := redact.URL(cfg.LegacyValidateURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.LegacyValidateURL, nil)
	if err != nil {
		r.problem(fmt.Sprintf("--legacy-validate-url %s: %v", u, err), "--legacy-validate-url")
		return
	}
	start := time.Now()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	took := time.Since(start)
	if err != nil {
		r.problem(fmt.Sprintf("the legacy backend %s does not answer: %v", u, err), "--legacy-validate-url, or start the old backend: migration answers 503 while it is down")
		return
	}
	res.Body.Close()
	switch {
	case res.StatusCode != http.StatusUnauthorized:
		r.problem(fmt.Sprintf("the legacy backend %s answers a request without cookies with %d, not 401", u, res.StatusCode),
			"point --legacy-validate-url at the endpoint that validates a session cookie (401 without one)")
	case took > time.Second:
		r.warn(fmt.Sprintf("the legacy backend %s took %v to answer", u, took.Round(time.Millisecond)), "every migration waits for it; make it faster or closer")
	default:
		r.ok("the legacy backend %s answers 401 without cookies in %v", u, took.Round(time.Millisecond))
	}
}
