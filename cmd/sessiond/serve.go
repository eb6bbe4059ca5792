package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/gcfloor"
	"github.com/sessiond/sessiond/internal/redact"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/sessionhttp"
)

func serveFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	return func(e env, cfg config.Config, _ *flag.FlagSet) error {
		return serve(e, cfg)
	}
}

func serve(e env, cfg config.Config) (err error) {
	cookies, err := sessionhttp.NewCookies(sessionhttp.CookieConfig{
		Name:     cfg.CookieName,
		Domain:   cfg.CookieDomain,
		Insecure: !cfg.CookieSecure,
		SameSite: cfg.CookieSameSite,
	})
	if err != nil {
		return fmt.Errorf("invalid cookie settings (--cookie-*): %w", err)
	}
	var adminToken string
	if cfg.AdminTokenFile != "" {
		if adminToken, err = readSecretFile(cfg.AdminTokenFile, "--admin-token-file"); err != nil {
			return err
		}
	}
	// The demo's password is public: unless told where, it listens on
	// loopback only.
	demoLoopback := cfg.Demo && !cfg.Given["listen"]
	if demoLoopback {
		cfg.Listen = demoListen(cfg.Listen)
	}
	// Listen first: a port in use must stop the start before the store
	// is created or migrated.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (--listen): %w", cfg.Listen, err)
	}
	defer ln.Close() // after Serve, a no-op
	var adminLn net.Listener
	if cfg.AdminListen != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			return fmt.Errorf("listen on %s (--admin-listen): %w", cfg.AdminListen, err)
		}
		defer adminLn.Close()
	}
	a, err := open(e, cfg, true)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.Close()) }()
	if err := delegateLogin(a, cfg); err != nil {
		return err
	}
	if cfg.Demo {
		if err := ensureDemoUser(e.ctx, a); err != nil {
			return err
		}
		if demoLoopback {
			a.log.Warn("DEMO MODE: listening on loopback only, since the demo password is public; give --listen to choose another address", "addr", cfg.Listen)
		}
	}
	defer ignoreHangup(a.log)()
	defer gcfloor.Start(cfg.GCHeapFloor)()
	met := a.metrics
	var migrator *sessionhttp.Migrator
	if cfg.LegacyValidateURL != "" {
		bound := a.manager.Bound(a.store) // bounded and observed as the Manager's calls
		migrator = &sessionhttp.Migrator{
			Sessions:        &sessionhttp.Sessions{Manager: a.manager, Cookies: cookies, Client: sessionhttp.ClientFrom(cfg.TrustedProxies...)},
			Store:           bound,
			Validator:       &sessionhttp.HTTPValidator{URL: cfg.LegacyValidateURL},
			CookieNames:     cfg.LegacyCookies,
			CredentialNames: credentialCookies(cfg, a.log),
			Attempts:        bound,
			CookieDomain:    cfg.LegacyCookieDomain,
			KeepLegacy:      cfg.LegacyCookiesKeep,
			Observe:         met.Migration,
			Logger:          a.log,
			Users:           a.accounts,
		}
		migrator.SetEnabled(cfg.Migration == "on")
		a.log.Info("legacy migration", "enabled", cfg.Migration == "on", "cookies", strings.Join(cfg.LegacyCookies, ","),
			"legacy_cookies_keep", cfg.LegacyCookiesKeep.String(), "migrate_on_get", cfg.MigrateOnGet)
	}
	shutdown := make(chan struct{}) // closed when the server starts shutting down: streams end
	deps := server.Deps{
		Identity:       cfg.IdentityHeaders,
		Migrator:       migrator,
		MigrateOnGet:   cfg.MigrateOnGet,
		Upstream:       cfg.Upstream,
		Metrics:        met,
		LoginURL:       cfg.LoginURL,
		RedirectHosts:  originHosts(cfg.AllowedOrigins),
		Manager:        a.manager,
		Accounts:       a.accounts,
		Cookies:        cookies,
		Logger:         a.log,
		AllowedOrigins: cfg.AllowedOrigins,
		TrustedProxies: cfg.TrustedProxies,
		AdminToken:     adminToken,
		Shutdown:       shutdown,
		SeparateAdmin:  adminLn != nil,
	}
	deps.CORSAllowedHeaders = cfg.CORSAllowedHeaders
	// work counts the requests in a handler that are not waiting for their
	// client to send the body: what a drain waits for.
	var work atomic.Int64
	servers := []*http.Server{newHTTPServer(server.NewServer(deps), &work, a.log)}
	listeners := []net.Listener{server.LimitListener(ln, cfg.MaxConnections, cfg.MaxConnectionsPerClient, cfg.TrustedProxies)}
	if adminLn != nil {
		servers = append(servers, newHTTPServer(server.NewAdminServer(deps), &work, a.log))
		listeners = append(listeners, adminLn)
		a.log.Info("admin API and metrics listening", "addr", adminLn.Addr().String())
	}
	servers[0].RegisterOnShutdown(func() { close(shutdown) })
	a.log.Info("listening", "addr", ln.Addr().String(), "store", redact.URL(cfg.Store), "version", buildVersion())
	done := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { done <- srv.Serve(listeners[i]) }()
	}
	select {
	case err := <-done:
		for _, srv := range servers {
			srv.Close()
		}
		return err
	case <-e.ctx.Done():
	}
	return drain(servers, &work, a.log)
}

// clientBody is a request body whose reads do not count as work: a handler
// blocked on a client that stopped sending holds nothing a drain must keep.
type clientBody struct {
	io.ReadCloser
	work *atomic.Int64
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.work.Add(-1)
	defer b.work.Add(1)
	return b.ReadCloser.Read(p)
}

// newHTTPServer serves h with the connection timeouts and counts its
// handlers' work for the drain.
func newHTTPServer(h http.Handler, work *atomic.Int64, log *slog.Logger) *http.Server {
	h = accessLog(h, log)
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			work.Add(1)
			defer work.Add(-1)
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = &clientBody{ReadCloser: r.Body, work: work}
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: config.HTTPReadHeaderTimeout,
		ReadTimeout:       config.HTTPReadTimeout,
		WriteTimeout:      config.HTTPWriteTimeout,
		IdleTimeout:       config.HTTPIdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// drainTimeout bounds how long a shutdown waits for requests in handlers.
const drainTimeout = 15 * time.Second

// drain stops srv: no new connections, idle ones closed, requests in
// handlers finished (live-revocation streams end at once). A connection
// whose client stalled halfway through sending its request holds no
// committed work: once no handler works (work counts those not waiting for
// their body), such connections are closed rather than waited for until
// their read timeout. It fails only when handlers are still working after
// drainTimeout.
func drain(servers []*http.Server, work *atomic.Int64, log *slog.Logger) error {
	log.Info("shutting down: draining requests")
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	done := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { done <- srv.Shutdown(ctx) }()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var errs []error
	for left := len(servers); left > 0; {
		select {
		case err := <-done:
			left--
			if err != nil {
				errs = append(errs, fmt.Errorf("shutdown: %d requests still working after %v: %w", work.Load(), drainTimeout, err))
			}
		case <-tick.C:
			if work.Load() == 0 {
				// Shutdown returns once Close has ended the connections.
				for _, srv := range servers {
					srv.Close()
				}
			}
		}
	}
	if len(errs) == 0 {
		log.Info("stopped")
	}
	return errors.Join(errs...)
}

// credentialCookies returns the legacy cookies that identify a legacy
// session: the configured credential names that are legacy cookies (named,
// or matched by a pattern of --legacy-cookies). With
// none, every legacy cookie counts, as before the setting existed.
func credentialCookies(cfg config.Config, log *slog.Logger) []string {
	var out []string
	for _, n := range cfg.LegacyCredentialCookies {
		if slices.ContainsFunc(cfg.LegacyCookies, func(p string) bool { ok, _ := path.Match(p, n); return ok }) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		log.Warn("no --legacy-credential-cookies among --legacy-cookies: every legacy cookie identifies the credential, so a changed state cookie makes a replayed credential new again")
	}
	return out
}

// originHosts returns the hosts of the allowed origins: the only hosts an
// absolute redirect target may name.
func originHosts(origins []string) []string {
	var hosts []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil {
			hosts = append(hosts, strings.ToLower(u.Host))
		}
	}
	return hosts
}

// demoListen puts an address without a host (":8080") on loopback.
func demoListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

func ensureDemoUser(ctx context.Context, a *app) error {
	_, err := a.accounts.AddUser(ctx, accounts.UserParams{Email: demoEmail, Password: demoPassword, TenantID: demoTenant})
	switch {
	case err == nil:
		a.log.Warn("DEMO MODE: created user " + demoEmail + " with password '" + demoPassword + "'; never run --demo in production")
	case errors.Is(err, sessiond.ErrConflict):
		a.log.Warn("DEMO MODE: user " + demoEmail + " exists; never run --demo in production")
	default:
		return fmt.Errorf("create demo user: %w", err)
	}
	return nil
}

// Demo credentials, created by --demo when absent.
const (
	demoEmail    = "test@example.com"
	demoPassword = "password"
	demoTenant   = "demo"
)
