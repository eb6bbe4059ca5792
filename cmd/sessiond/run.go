package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/redact"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/webhook"
	"github.com/sessiond/sessiond/password"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/sqlitestore"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it, the module version from the build info is used.
var version = ""

// errUsage marks an error whose message was already printed with usage.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

type env struct {
	ctx    context.Context
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name, args, summary string
	scopes              []config.Scope
	flags               func(fs *flag.FlagSet) func(e env, cfg config.Config, fs *flag.FlagSet) error
}

var commands = []command{
	{"serve", "", "run the session server", []config.Scope{config.Common, config.Serve}, serveFlags},
	{"user add", "--email E [--tenant T] [--needs-onboarding]", "add a user; the password is read from standard input", []config.Scope{config.Common}, userAddFlags},
	{"user disable", "--email E", "disable a user and end all their sessions", []config.Scope{config.Common}, userDisableFlags(true)},
	{"user enable", "--email E", "enable a disabled user", []config.Scope{config.Common}, userDisableFlags(false)},
	{"user update", "--id ID | --email E [--needs-onboarding=false] [--onboarding-step S] [--disabled=true] [--attributes JSON] [--version N]", "change a user; disabling ends all their sessions", []config.Scope{config.Common}, userUpdateFlags},
	{"user delete", "--id ID | --email E", "delete a user and end all their sessions", []config.Scope{config.Common}, userDeleteFlags},
	{"user list", "[--email-prefix P] [--tenant T] [--cursor C] [--limit N] [--json]", "list users, a page at a time", []config.Scope{config.Common}, userListFlags},
	{"user import", "FILE", "import users with their password hashes from JSON Lines (- for standard input)", []config.Scope{config.Common}, userImportFlags},
	{"sessions list", "--user E", "list a user's live sessions", []config.Scope{config.Common}, sessionsListFlags},
	{"sessions revoke", "--id ID | --user E", "end one session, or every session of a user", []config.Scope{config.Common}, sessionsRevokeFlags},
	{"purge", "", "delete expired sessions now", []config.Scope{config.Common}, purgeFlags},
	{"doctor", "[--url URL]", "check the configuration against the usual mistakes and say what to change (exit status 1: something would break)", []config.Scope{config.Common, config.Serve}, doctorFlags},
	{"version", "", "print the version", nil, nil},
}

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{ctx: ctx, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) < len(words) || strings.Join(args[:len(words)], " ") != c.name {
			continue
		}
		return c.run(e, args[len(words):])
	}
	fmt.Fprintf(stderr, "sessiond: unknown command %q\n\n", strings.Join(args, " "))
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "sessiond: server-side sessions behind one cookie.")
	fmt.Fprintln(w, "\nUsage:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  sessiond %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nEvery setting is a flag and a SESSIOND_* environment variable; flags win.")
	fmt.Fprintln(w, "Run 'sessiond COMMAND --help' for a command's flags.")
}

func (c command) run(e env, args []string) error {
	if c.flags == nil { // version
		return printVersion(e.stdout)
	}
	fs := flag.NewFlagSet("sessiond "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	load := config.Register(fs, e.getenv, c.scopes...)
	action := c.flags(fs)
	printUsage := func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: sessiond %s %s\n\n%s.\n\nFlags:\n", c.name, c.args, upperFirst(c.summary))
		fs.PrintDefaults()
	}
	fs.Usage = func() {}     // printed below, to stdout for --help
	fs.SetOutput(io.Discard) // the parse error is reworded below
	err := fs.Parse(args)
	fs.SetOutput(e.stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			printUsage()
			return nil
		}
		fmt.Fprintln(e.stderr, flagError(fs, err))
		printUsage()
		return errUsage
	}
	fs.Usage = printUsage
	if fs.NArg() > positional[c.name] {
		fmt.Fprintf(e.stderr, "sessiond %s: unexpected argument %q\n", c.name, fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	return action(e, cfg, fs)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// app is the engine opened from a configuration: store, manager, accounts.
type app struct {
	store    sessiond.Store
	manager  *sessiond.Manager
	accounts *accounts.Service
	webhook  *webhook.Sender
	log      *slog.Logger
	// webhookMetrics receives the webhook's deliveries once the server's
	// metrics exist.
	webhookMetrics *atomic.Pointer[func(string, time.Duration)]
}

// open opens the store and builds the engine. Short-lived commands run
// without a cache and without background purging.
func open(e env, cfg config.Config, serving bool) (*app, error) {
	log := newLogger(cfg, e.stderr)
	store, err := openStore(e.ctx, cfg.Store, log)
	if err != nil {
		return nil, err
	}
	mc := managerConfig(cfg)
	mc.Logger = log
	var hook *webhook.Sender
	var observe atomic.Pointer[func(string, time.Duration)]
	if serving && cfg.WebhookURL != "" {
		key, err := readSecretFile(cfg.WebhookSecretFile, "--webhook-secret-file")
		if err != nil {
			store.Close()
			return nil, err
		}
		hook = webhook.New(cfg.WebhookURL, []byte(key), log, webhook.Options{Observe: func(outcome string, d time.Duration) {
			if f := observe.Load(); f != nil {
				(*f)(outcome, d)
			}
		}})
		mc.OnEvent = hook.Enqueue
	}
	if cfg.CacheSize == 0 || !serving {
		mc.CacheSize = -1
	}
	if !serving {
		mc.PurgeInterval = -1
	}
	m := sessiond.NewManager(store, mc)
	return &app{
		store:   store,
		manager: m,
		accounts: accounts.New(store, m, password.New(password.Options{}), accounts.Throttle{
			AccountAttempts: cfg.ThrottleAccountAttempts,
			AddressAttempts: cfg.ThrottleAddressAttempts,
			Max:             cfg.ThrottleMaxDelay,
		}),
		webhook:        hook,
		log:            log,
		webhookMetrics: &observe,
	}, nil
}

// managerConfig is the Manager's policy as the flags and the environment
// set it. TestConfig_TheCLIsDefaultsAreTheLibrarysDefaults holds the
// flags' documented defaults equal to the library's own.
func managerConfig(cfg config.Config) sessiond.Config {
	return sessiond.Config{
		Lifetime:           cfg.Lifetime,
		IdleTimeout:        cfg.IdleTimeout,
		TouchInterval:      cfg.TouchInterval,
		CacheSize:          cfg.CacheSize,
		CacheTTL:           cfg.CacheTTL,
		MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		RefuseAtLimit:      cfg.AtLimit == "refuse",
		ReauthWindow:       cfg.ReauthWindow,
		Anomaly:            cfg.AnomalyAction,
		IPv4Prefix:         cfg.AnomalyIPv4Prefix,
		IPv6Prefix:         cfg.AnomalyIPv6Prefix,
		EventRetention:     cfg.EventRetention,
	}
}

// openStore picks the store from its URL: the only place that knows them
// all.
func openStore(ctx context.Context, url string, log *slog.Logger) (sessiond.Store, error) {
	// Said before the wait, so that a store that does not answer is not a
	// silent hang (connection attempts are bounded by each store).
	log.Debug("opening the store", "store", redact.URL(url))
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		return sqlitestore.Open(ctx, strings.TrimPrefix(url, "sqlite:"), sqlitestore.Options{})
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"):
		s, err := redisstore.Open(ctx, url, redisstore.Options{})
		if err != nil {
			return nil, err
		}
		for _, w := range s.Check(ctx) {
			log.Warn(w)
		}
		return s, nil
	}
	return pgstore.Open(ctx, url, pgstore.Options{})
}

// Close stops the engine, writing pending touches, then the webhook sender,
// then closes the store. It is safe after a partial start.
func (a *app) Close() error {
	err := a.manager.Close()
	if a.webhook != nil {
		err = errors.Join(err, a.webhook.Close())
	}
	return errors.Join(err, a.store.Close())
}

// readSecretFile reads a token or key: the file's content without
// surrounding white space, at least 16 bytes.
func readSecretFile(path, flagName string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s is required", flagName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	secret := strings.TrimSpace(string(b))
	if len(secret) < 16 {
		return "", fmt.Errorf("%s: the secret in %s is shorter than 16 bytes", flagName, path)
	}
	return secret, nil
}

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
		SameSite: sameSite(cfg.CookieSameSite),
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
	met := metrics.New(a.manager.CacheLen)
	if a.webhook != nil {
		f := met.Webhook()
		a.webhookMetrics.Store(&f)
	}
	var migrator *sessionhttp.Migrator
	if cfg.LegacyValidateURL != "" {
		migrator = &sessionhttp.Migrator{
			Store:           a.store,
			Validator:       &sessionhttp.HTTPValidator{URL: cfg.LegacyValidateURL},
			CookieNames:     cfg.LegacyCookies,
			CredentialNames: credentialCookies(cfg, a.log),
			Attempts:        a.store,
			CookieDomain:    cfg.LegacyCookieDomain,
			Observe:         met.Migration,
			Log:             a.log,
			Users:           a.accounts,
		}
		migrator.Enabled.Store(cfg.Migration == "on")
		a.log.Info("legacy migration", "enabled", cfg.Migration == "on", "cookies", strings.Join(cfg.LegacyCookies, ","))
	}
	var upstream *url.URL
	if cfg.Upstream != "" {
		upstream, _ = url.Parse(cfg.Upstream)
	}
	ih := cfg.IdentityHeaders
	shutdown := make(chan struct{}) // closed when the server starts shutting down: streams end
	deps := server.Deps{
		Identity:       sessionhttp.IdentityHeaders{UserID: ih[0], Email: ih[1], TenantID: ih[2], SessionID: ih[3]},
		Migrator:       migrator,
		Upstream:       upstream,
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

// Timeouts of every connection (README, "Limits"): a client has 5 s to send
// its request's headers and 30 s for the whole request; an answer has 30 s
// (a live-revocation stream lifts that for itself); an idle keep-alive
// connection is closed after 2 minutes.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
)

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
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
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
// session: the configured credential names that are legacy cookies. With
// none, every legacy cookie counts, as before the setting existed.
func credentialCookies(cfg config.Config, log *slog.Logger) []string {
	var out []string
	for _, n := range cfg.LegacyCredentialCookies {
		if slices.Contains(cfg.LegacyCookies, n) {
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

func sameSite(s string) http.SameSite {
	switch s {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

// demoListen puts an address without a host (":8080") on loopback.
func demoListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// Demo credentials, created by --demo when absent.
const (
	demoEmail    = "test@example.com"
	demoPassword = "password"
	demoTenant   = "demo"
)

func ensureDemoUser(ctx context.Context, a *app) error {
	_, err := a.accounts.AddUser(ctx, accounts.NewUser{Email: demoEmail, Password: demoPassword, TenantID: demoTenant})
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

func userAddFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	email := fs.String("email", "", "the user's email (required)")
	tenant := fs.String("tenant", "", "the user's tenant id")
	onboarding := fs.Bool("needs-onboarding", false, "mark the user as not yet onboarded")
	step := fs.String("onboarding-step", "", "the user's onboarding step")
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		if *email == "" {
			return usageError(fs, e, "--email is required")
		}
		pw, err := readPassword(e.stdin)
		if err != nil {
			return err
		}
		a, err := open(e, cfg, false)
		if err != nil {
			return err
		}
		defer a.Close()
		u, err := a.accounts.AddUser(e.ctx, accounts.NewUser{
			Email: *email, Password: pw, TenantID: *tenant, NeedsOnboarding: *onboarding, OnboardingStep: *step,
		})
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(e.stdout, "created user %s (%s)\n", u.Email, u.ID)
		return nil
	}
}

// readPassword reads the first line of r, without its line ending. The
// password is taken exactly as typed otherwise.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, password.MaxLength+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on standard input (pipe it in: echo 'secret' | sessiond user add --email …)")
	}
	return line, nil
}

func userDisableFlags(disable bool) func(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	return func(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
		email := fs.String("email", "", "the user's email (required)")
		return func(e env, cfg config.Config, fs *flag.FlagSet) error {
			if *email == "" {
				return usageError(fs, e, "--email is required")
			}
			a, err := open(e, cfg, false)
			if err != nil {
				return err
			}
			defer a.Close()
			u, n, err := a.accounts.SetDisabled(e.ctx, *email, disable)
			if err != nil {
				return cliError(err)
			}
			if disable {
				fmt.Fprintf(e.stdout, "disabled user %s; %d sessions revoked\n", u.Email, n)
			} else {
				fmt.Fprintf(e.stdout, "enabled user %s\n", u.Email)
			}
			return nil
		}
	}
}

func sessionsListFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	user := fs.String("user", "", "the user's email (required)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		if *user == "" {
			return usageError(fs, e, "--user is required")
		}
		a, err := open(e, cfg, false)
		if err != nil {
			return err
		}
		defer a.Close()
		u, err := a.accounts.UserByEmail(e.ctx, *user)
		if err != nil {
			return cliError(err)
		}
		list, err := a.manager.List(e.ctx, u.ID)
		if err != nil {
			return cliError(err)
		}
		if *asJSON {
			type row struct {
				ID           string    `json:"id"`
				Device       string    `json:"device"`
				IPAddress    string    `json:"ip_address"`
				CreatedAt    time.Time `json:"created_at"`
				LastActivity time.Time `json:"last_activity"`
				ExpiresAt    time.Time `json:"expires_at"`
			}
			rows := make([]row, 0, len(list))
			for _, s := range list {
				rows = append(rows, row{s.ID, s.Device(), s.IPAddress, s.CreatedAt, s.LastActivity, s.ExpiresAt})
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tDEVICE\tIP\tCREATED\tLAST ACTIVITY\tEXPIRES")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Device(), s.IPAddress,
				s.CreatedAt.Format(time.RFC3339), s.LastActivity.Format(time.RFC3339), s.ExpiresAt.Format(time.RFC3339))
		}
		return tw.Flush()
	}
}

func sessionsRevokeFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	id := fs.String("id", "", "the public id of the session to end")
	user := fs.String("user", "", "end every session of the user with this email")
	return func(e env, cfg config.Config, fs *flag.FlagSet) error {
		if (*id == "") == (*user == "") {
			return usageError(fs, e, "give exactly one of --id and --user")
		}
		a, err := open(e, cfg, false)
		if err != nil {
			return err
		}
		defer a.Close()
		if *id != "" {
			if !sessiond.ValidID(*id) {
				return errors.New("--id must be a session id (a UUID)")
			}
			s, err := a.manager.Lookup(e.ctx, *id)
			if err != nil {
				return cliError(err)
			}
			if err := a.manager.Revoke(e.ctx, s.ID); err != nil {
				return cliError(err)
			}
			a.log.Info("session revoked", "reason", "cli", "user_id", s.UserID, "session_id", s.ID)
			fmt.Fprintf(e.stdout, "revoked session %s\n", s.ID)
			return nil
		}
		u, err := a.accounts.UserByEmail(e.ctx, *user)
		if err != nil {
			return cliError(err)
		}
		n, err := a.manager.RevokeUser(e.ctx, u.ID, "")
		if err != nil {
			return cliError(err)
		}
		a.log.Info("sessions revoked", "reason", "cli", "user_id", u.ID, "count", n)
		fmt.Fprintf(e.stdout, "revoked %d sessions of %s\n", n, u.Email)
		return nil
	}
}

func purgeFlags(fs *flag.FlagSet) func(env, config.Config, *flag.FlagSet) error {
	return func(e env, cfg config.Config, _ *flag.FlagSet) error {
		a, err := open(e, cfg, false)
		if err != nil {
			return err
		}
		defer a.Close()
		n, err := a.manager.Purge(e.ctx)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(e.stdout, "purged %d expired sessions\n", n)
		return nil
	}
}

func usageError(fs *flag.FlagSet, e env, msg string) error {
	fmt.Fprintf(e.stderr, "%s: %s\n", fs.Name(), msg)
	fs.Usage()
	return errUsage
}

// cliError turns engine errors into messages for a terminal.
func cliError(err error) error {
	if errors.Is(err, sessiond.ErrNotFound) {
		return errors.New("not found")
	}
	var e *sessiond.Error
	if errors.As(err, &e) {
		if e.Err != nil {
			return fmt.Errorf("%s: %w", e.Message, e.Err)
		}
		return errors.New(e.Message)
	}
	return err
}
