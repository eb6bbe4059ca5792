// Package config turns flags, environment variables and defaults into a
// Config. Every setting is both a flag and an environment variable; a flag
// wins over the environment, which wins over the default. An invalid value
// is an error that names the flag and the variable.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/gcfloor"
	"github.com/sessiond/sessiond/sessionhttp"
)

// Config is the server's configuration. Each field names its flag, its
// environment variable and its default.
type Config struct {
	Listen string // --listen, SESSIOND_LISTEN, ":8080"
	// AdminListen, when set, serves the admin API and /metrics on a
	// listener of their own: --admin-listen, SESSIOND_ADMIN_LISTEN.
	AdminListen string
	// MaxConnections and MaxConnectionsPerClient bound open connections:
	// --max-connections (10000), --max-connections-per-client (64).
	MaxConnections, MaxConnectionsPerClient int
	Store                                   string // --store, SESSIOND_STORE, "sqlite:sessiond.db"
	Demo                                    bool   // --demo, SESSIOND_DEMO, false

	CookieName     string        // --cookie-name, SESSIOND_COOKIE_NAME, "sid"
	CookieDomain   string        // --cookie-domain, SESSIOND_COOKIE_DOMAIN, none
	CookieSecure   bool          // --cookie-secure, SESSIOND_COOKIE_SECURE, true
	CookieSameSite http.SameSite // --cookie-samesite, SESSIOND_COOKIE_SAMESITE, "lax"

	Lifetime      time.Duration // --lifetime, SESSIOND_LIFETIME, 24h
	IdleTimeout   time.Duration // --idle-timeout, SESSIOND_IDLE_TIMEOUT, 2h
	TouchInterval time.Duration // --touch-interval, SESSIOND_TOUCH_INTERVAL, 1m

	CacheSize int           // --cache-size, SESSIOND_CACHE_SIZE, 100000 (0: off)
	CacheTTL  time.Duration // --cache-ttl, SESSIOND_CACHE_TTL, 10s

	// GCHeapFloor is the least heap the collector lets grow between
	// collections, in bytes: --gc-heap-floor, SESSIOND_GC_HEAP_FLOOR,
	// 32MiB (0: the runtime's own, 4 MiB).
	GCHeapFloor uint64

	AllowedOrigins []string // --allowed-origins, SESSIOND_ALLOWED_ORIGINS, none (https://*.example.com: one subdomain label)
	// CORSAllowedHeaders are request headers a browser may send
	// cross-origin beyond Content-Type: --cors-allowed-headers, none.
	CORSAllowedHeaders []string
	TrustedProxies     []netip.Prefix // --trusted-proxies, SESSIOND_TRUSTED_PROXIES, none

	MaxSessionsPerUser int                    // --max-sessions-per-user, SESSIOND_MAX_SESSIONS_PER_USER, 0 (no cap)
	RefuseAtLimit      bool                   // --at-limit, SESSIOND_AT_LIMIT, "evict" (false) or "refuse" (true)
	ReauthWindow       time.Duration          // --reauth-window, SESSIOND_REAUTH_WINDOW, 10m
	AnomalyAction      sessiond.AnomalyAction // --anomaly-action, SESSIOND_ANOMALY_ACTION, "flag" (or "reauth", "revoke")
	AnomalyIPv4Prefix  int                    // --anomaly-ipv4-prefix, SESSIOND_ANOMALY_IPV4_PREFIX, 24
	AnomalyIPv6Prefix  int                    // --anomaly-ipv6-prefix, SESSIOND_ANOMALY_IPV6_PREFIX, 48
	EventRetention     time.Duration          // --event-retention, SESSIOND_EVENT_RETENTION, 2160h

	ThrottleAccountAttempts int           // --throttle-account-attempts, SESSIOND_THROTTLE_ACCOUNT_ATTEMPTS, 5
	ThrottleAddressAttempts int           // --throttle-address-attempts, SESSIOND_THROTTLE_ADDRESS_ATTEMPTS, 20
	ThrottleMaxDelay        time.Duration // --throttle-max-delay, SESSIOND_THROTTLE_MAX_DELAY, 15m

	AdminTokenFile    string // --admin-token-file, SESSIOND_ADMIN_TOKEN_FILE, none (admin API off)
	WebhookURL        string // --webhook-url, SESSIOND_WEBHOOK_URL, none
	WebhookSecretFile string // --webhook-secret-file, SESSIOND_WEBHOOK_SECRET_FILE, none

	LegacyValidateURL string   // --legacy-validate-url, SESSIOND_LEGACY_VALIDATE_URL, none (migration off)
	LegacyCookies     []string // --legacy-cookies, SESSIOND_LEGACY_COOKIES, the five of DESIGN.md
	// LegacyCredentialCookies are the legacy cookies that identify a
	// legacy session: --legacy-credential-cookies.
	LegacyCredentialCookies []string
	LegacyCookieDomain      string // --legacy-cookie-domain, SESSIOND_LEGACY_COOKIE_DOMAIN, none
	// LegacyCookiesKeep is the shadow period during which a migrated
	// browser keeps its legacy cookies: --legacy-cookies-keep, 0 (expired
	// at the migration).
	LegacyCookiesKeep time.Duration
	Migration         string // --migration, SESSIOND_MIGRATION, "on" (or "off", the rollback switch)
	MigrateOnGet      bool   // --migrate-on-get, SESSIOND_MIGRATE_ON_GET, false

	LoginVerifyURL        string                      // --login-verify-url, SESSIOND_LOGIN_VERIFY_URL, none (delegated login off)
	LoginVerifyMode       string                      // --login-verify-mode, SESSIOND_LOGIN_VERIFY_MODE, "missing" (or "all")
	LoginVerifySecretFile string                      // --login-verify-secret-file, SESSIOND_LOGIN_VERIFY_SECRET_FILE, none (unsigned)
	Upstream              *url.URL                    // --upstream, SESSIOND_UPSTREAM, none (reverse-proxy mode when set)
	LoginURL              string                      // --login-url, SESSIOND_LOGIN_URL, none
	IdentityHeaders       sessionhttp.IdentityHeaders // --identity-headers, SESSIOND_IDENTITY_HEADERS, X-User-Id,X-User-Email,X-Tenant-Id,X-Session-Id

	LogLevel  string // --log-level, SESSIOND_LOG_LEVEL, "info"
	LogFormat string // --log-format, SESSIOND_LOG_FORMAT, "json"

	// Given names the settings given by a flag or the environment rather
	// than left at their default, by flag name ("listen").
	Given map[string]bool
}

// Timeouts of every connection sessiond serves (README, "Limits"): a
// client has 5 s to send its request's headers and 30 s for the whole
// request; an answer has 30 s (a live-revocation stream lifts that for
// itself); an idle keep-alive connection is closed after 2 minutes. The
// benchmark's handler that writes sessiond's recorded answers runs with the
// same (serveAnswer in bench/servers.go).
const (
	HTTPReadHeaderTimeout = 5 * time.Second
	HTTPReadTimeout       = 30 * time.Second
	HTTPWriteTimeout      = 30 * time.Second
	HTTPIdleTimeout       = 2 * time.Minute
)

// Scope says which commands a setting belongs to.
type Scope int

const (
	// Common settings (the store, the session policy, logging) apply to
	// every command that opens the store.
	Common Scope = iota
	// Serve settings apply to "sessiond serve" only.
	Serve
)

type setting struct {
	flag, env, def, usage string
	scope                 Scope
	set                   func(c *Config, v string) error
}

var settings = []setting{
	{"listen", "SESSIOND_LISTEN", ":8080", "address to listen on", Serve, func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.Listen = v
		return nil
	}},
	{"admin-listen", "SESSIOND_ADMIN_LISTEN", "", "address of a separate listener for the admin API and /metrics, which the public one then does not serve (none: both on --listen)", Serve, func(c *Config, v string) error {
		c.AdminListen = v
		return nil
	}},
	{"max-connections", "SESSIOND_MAX_CONNECTIONS", "10000", "open client connections at most; more wait to be accepted", Serve, func(c *Config, v string) error {
		return positiveInt(v, &c.MaxConnections)
	}},
	{"max-connections-per-client", "SESSIOND_MAX_CONNECTIONS_PER_CLIENT", "64", "open connections at most from one client address (trusted proxies exempt); more are closed at once", Serve, func(c *Config, v string) error {
		return positiveInt(v, &c.MaxConnectionsPerClient)
	}},
	{"store", "SESSIOND_STORE", "sqlite:sessiond.db", "session store URL: sqlite:PATH, postgres://… (search_path=SCHEMA picks the schema) or redis://…, rediss://… (?prefix=NAME, ?shards=N on a Cluster)", Common, func(c *Config, v string) error {
		switch {
		case strings.HasPrefix(v, "sqlite:") && len(v) > len("sqlite:"):
		case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		case strings.HasPrefix(v, "redis://"), strings.HasPrefix(v, "rediss://"):
		default:
			return errors.New(`must be sqlite:PATH, postgres://… or redis://…`)
		}
		c.Store = v
		return nil
	}},
	{"demo", "SESSIOND_DEMO", "false", "create the demo user test@example.com / password (tenant demo) if absent", Serve, boolSetter(func(c *Config) *bool { return &c.Demo })},
	{"cookie-name", "SESSIOND_COOKIE_NAME", "sid", "session cookie name (__Host-sid is offered)", Serve, func(c *Config, v string) error {
		c.CookieName = v
		return nil
	}},
	{"cookie-domain", "SESSIOND_COOKIE_DOMAIN", "", "cookie Domain attribute (empty: host-only)", Serve, func(c *Config, v string) error {
		if strings.Contains(v, "://") || strings.ContainsAny(v, "/:?#@ \t\r\n;,\"") {
			return errors.New("must be a bare domain such as example.com, not a URL")
		}
		c.CookieDomain = v
		return nil
	}},
	{"cookie-secure", "SESSIOND_COOKIE_SECURE", "true", "set the Secure attribute (false only for plain-HTTP development)", Serve, boolSetter(func(c *Config) *bool { return &c.CookieSecure })},
	{"cookie-samesite", "SESSIOND_COOKIE_SAMESITE", "lax", "cookie SameSite: lax, strict or none", Serve, func(c *Config, v string) error {
		mode, ok := sameSiteModes[strings.ToLower(v)]
		if !ok {
			return errors.New("must be lax, strict or none")
		}
		c.CookieSameSite = mode
		return nil
	}},
	{"lifetime", "SESSIOND_LIFETIME", "24h", "absolute session lifetime, never extended by activity", Common, durationSetter(func(c *Config) *time.Duration { return &c.Lifetime })},
	{"idle-timeout", "SESSIOND_IDLE_TIMEOUT", "2h", "end a session after this long without a request", Common, durationSetter(func(c *Config) *time.Duration { return &c.IdleTimeout })},
	{"touch-interval", "SESSIOND_TOUCH_INTERVAL", "1m", "record a session's activity at most this often", Common, durationSetter(func(c *Config) *time.Duration { return &c.TouchInterval })},
	{"cache-size", "SESSIOND_CACHE_SIZE", "100000", "sessions kept in memory by this node (0: no cache)", Serve, func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errors.New("must be a whole number, 0 or more")
		}
		c.CacheSize = n
		return nil
	}},
	{"cache-ttl", "SESSIOND_CACHE_TTL", "10s", "longest a cached session is trusted without asking the store", Serve, durationSetter(func(c *Config) *time.Duration { return &c.CacheTTL })},
	{"gc-heap-floor", "SESSIOND_GC_HEAP_FLOOR", "32MiB", "least heap the garbage collector lets grow between collections (B, KiB, MiB, GiB or TiB, at most 1TiB; 0: the Go runtime's default): fewer collections under load while the live heap is small; GOGC and GOMEMLIMIT still apply", Serve, func(c *Config, v string) error {
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		if n > gcfloor.MaxFloor {
			return errors.New("must be at most 1TiB")
		}
		c.GCHeapFloor = n
		return nil
	}},
	{"allowed-origins", "SESSIOND_ALLOWED_ORIGINS", "", "comma-separated front-end origins (https://app.example.com; https://*.example.com for any one subdomain label) trusted for cross-origin requests and CORS with credentials", Serve, func(c *Config, v string) error {
		c.AllowedOrigins = nil
		for _, o := range splitList(v) {
			u, err := url.Parse(strings.Replace(o, "://*.", "://wildcard.", 1))
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
				return fmt.Errorf("%q is not an origin such as https://app.example.com (a scheme and a host, no path or query)", o)
			}
			host := strings.ToLower(u.Host)
			if rest, ok := strings.CutPrefix(host, "wildcard."); ok && strings.Contains(o, "://*.") {
				// A wildcard stands for one label under a domain of at
				// least two labels: *.com would trust every site.
				if strings.Contains(rest, "*") || !strings.Contains(strings.Split(rest, ":")[0], ".") {
					return fmt.Errorf("%q: a wildcard stands for one subdomain label of a registrable domain, as in https://*.example.com", o)
				}
				host = "*." + rest
			} else if strings.Contains(host, "*") {
				return fmt.Errorf("%q: a wildcard may only be the first label, as in https://*.example.com", o)
			}
			c.AllowedOrigins = append(c.AllowedOrigins, u.Scheme+"://"+host)
		}
		return nil
	}},
	{"cors-allowed-headers", "SESSIOND_CORS_ALLOWED_HEADERS", "", "comma-separated request headers browsers of the allowed origins may send besides Content-Type (X-CSRFToken)", Serve, func(c *Config, v string) error {
		c.CORSAllowedHeaders = splitList(v)
		for _, h := range c.CORSAllowedHeaders {
			if h == "" || strings.ContainsFunc(h, func(r rune) bool {
				return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
			}) {
				return fmt.Errorf("%q is not a header name", h)
			}
		}
		return nil
	}},
	{"trusted-proxies", "SESSIOND_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is believed", Serve, func(c *Config, v string) error {
		c.TrustedProxies = nil
		for _, p := range splitList(v) {
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				addr, aerr := netip.ParseAddr(p)
				if aerr != nil {
					return fmt.Errorf("%q is not a CIDR or an address", p)
				}
				prefix = netip.PrefixFrom(addr, addr.BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
		}
		return nil
	}},
	{"max-sessions-per-user", "SESSIOND_MAX_SESSIONS_PER_USER", "0", "cap on each user's live sessions (0: no cap, 1: single-session mode)", Serve, intSetter(0, 1<<20, func(c *Config) *int { return &c.MaxSessionsPerUser })},
	{"at-limit", "SESSIOND_AT_LIMIT", "evict", "at the cap: evict the least recently active session, or refuse the login", Serve, func(c *Config, v string) error {
		switch strings.ToLower(v) {
		case "evict", "refuse":
			c.RefuseAtLimit = strings.ToLower(v) == "refuse"
			return nil
		}
		return errors.New("must be evict or refuse")
	}},
	{"reauth-window", "SESSIOND_REAUTH_WINDOW", "10m", "how recent a password check must be for revoke-others and password change", Serve, durationSetter(func(c *Config) *time.Duration { return &c.ReauthWindow })},
	{"anomaly-action", "SESSIOND_ANOMALY_ACTION", "flag", "when a session changes browser or network: flag, reauth or revoke", Serve, func(c *Config, v string) error {
		// The library's own parser: one list of actions, not two.
		a, err := sessiond.ParseAnomalyAction(strings.ToLower(v))
		c.AnomalyAction = a
		return err
	}},
	{"anomaly-ipv4-prefix", "SESSIOND_ANOMALY_IPV4_PREFIX", "24", "IPv4 prefix length within which an address change is not an anomaly", Serve, intSetter(0, 32, func(c *Config) *int { return &c.AnomalyIPv4Prefix })},
	{"anomaly-ipv6-prefix", "SESSIOND_ANOMALY_IPV6_PREFIX", "48", "IPv6 prefix length within which an address change is not an anomaly", Serve, intSetter(0, 128, func(c *Config) *int { return &c.AnomalyIPv6Prefix })},
	{"event-retention", "SESSIOND_EVENT_RETENTION", "2160h", "how long audit events are kept", Common, durationSetter(func(c *Config) *time.Duration { return &c.EventRetention })},
	{"throttle-account-attempts", "SESSIOND_THROTTLE_ACCOUNT_ATTEMPTS", "5", "failed logins per account before back-off starts", Serve, intSetter(1, 1<<20, func(c *Config) *int { return &c.ThrottleAccountAttempts })},
	{"throttle-address-attempts", "SESSIOND_THROTTLE_ADDRESS_ATTEMPTS", "20", "failed logins per client address before back-off starts", Serve, intSetter(1, 1<<20, func(c *Config) *int { return &c.ThrottleAddressAttempts })},
	{"throttle-max-delay", "SESSIOND_THROTTLE_MAX_DELAY", "15m", "longest back-off between failed logins", Serve, durationSetter(func(c *Config) *time.Duration { return &c.ThrottleMaxDelay })},
	{"admin-token-file", "SESSIOND_ADMIN_TOKEN_FILE", "", "file holding the admin API bearer token (none: admin API off)", Serve, func(c *Config, v string) error {
		c.AdminTokenFile = v
		return nil
	}},
	{"webhook-url", "SESSIOND_WEBHOOK_URL", "", "URL that receives audit events as signed JSON POSTs", Serve, func(c *Config, v string) error {
		if _, err := httpURL(v); err != nil {
			return err
		}
		c.WebhookURL = v
		return nil
	}},
	{"webhook-secret-file", "SESSIOND_WEBHOOK_SECRET_FILE", "", "file holding the webhook HMAC-SHA256 key", Serve, func(c *Config, v string) error {
		c.WebhookSecretFile = v
		return nil
	}},
	{"login-verify-url", "SESSIOND_LOGIN_VERIFY_URL", "", "backend URL that checks email and password for users sessiond holds no password for (none: delegated login off)", Serve, func(c *Config, v string) error {
		if u, err := httpURL(v); err != nil || u != nil && u.User != nil {
			return errors.New("must be an http or https URL without credentials")
		}
		c.LoginVerifyURL = v
		return nil
	}},
	{"login-verify-mode", "SESSIOND_LOGIN_VERIFY_MODE", "missing", "which logins go to the login-verify URL: missing (emails without a password here) or all", Serve, func(c *Config, v string) error {
		switch v = strings.ToLower(v); v {
		case "missing", "all":
			c.LoginVerifyMode = v
			return nil
		}
		return errors.New("must be missing or all")
	}},
	{"login-verify-secret-file", "SESSIOND_LOGIN_VERIFY_SECRET_FILE", "", "file holding the HMAC-SHA256 key that signs login-verify requests (X-Sessiond-Signature)", Serve, func(c *Config, v string) error {
		c.LoginVerifySecretFile = v
		return nil
	}},
	{"legacy-validate-url", "SESSIOND_LEGACY_VALIDATE_URL", "", "old backend URL that validates legacy session cookies (none: migration off)", Serve, func(c *Config, v string) error {
		if _, err := httpURL(v); err != nil {
			return err
		}
		c.LegacyValidateURL = v
		return nil
	}},
	{"legacy-cookies", "SESSIOND_LEGACY_COOKIES", "dott_auth_session,session_token,onboarding_status,businessInfoCompleted,onboardingStep", "comma-separated names of the legacy cookies; a name may be a pattern after a literal prefix (dott_*: * any characters, ? one, [a-z] a class, \\ escapes)", Serve, func(c *Config, v string) error {
		c.LegacyCookies = splitList(v)
		for _, n := range c.LegacyCookies {
			if err := sessionhttp.CheckCookiePattern(n); err != nil {
				return err
			}
		}
		return nil
	}},
	{"legacy-credential-cookies", "SESSIOND_LEGACY_CREDENTIAL_COOKIES", "dott_auth_session,session_token", "the legacy cookies that identify a legacy session (one migration each; exact names, not patterns); the others are state, expired with them", Serve, func(c *Config, v string) error {
		c.LegacyCredentialCookies = splitList(v)
		for _, n := range c.LegacyCredentialCookies {
			if err := sessionhttp.CheckCookiePattern(n); err != nil {
				return err
			}
			if strings.ContainsAny(n, "*?[\\") {
				return fmt.Errorf("%q: credential cookies are exact names, not patterns", n)
			}
		}
		return nil
	}},
	{"legacy-cookie-domain", "SESSIOND_LEGACY_COOKIE_DOMAIN", "", "parent domain the legacy cookies were also set on (they are expired there too)", Serve, func(c *Config, v string) error {
		if strings.ContainsAny(v, ";, \t\r\n\"") {
			return errors.New("must be a domain")
		}
		c.LegacyCookieDomain = v
		return nil
	}},
	{"legacy-cookies-keep", "SESSIOND_LEGACY_COOKIES_KEEP", "0", "shadow period (7d, 36h; at most 30d) during which a migrated browser keeps its legacy cookies, so that switching the application back to the old scheme logs nobody out; after it they are expired (0: at the migration)", Serve, func(c *Config, v string) error {
		d, err := parseDays(v)
		if err != nil || d < 0 {
			return errors.New("must be 0 or a duration such as 7d, 36h or 90m")
		}
		if d > maxLegacyKeep {
			// Past the replay guard's memory of a migrated credential,
			// a browser that kept it would migrate it again.
			return fmt.Errorf("must be at most %dd, the time the replay guard remembers a migrated credential", maxLegacyKeep/(24*time.Hour))
		}
		c.LegacyCookiesKeep = d
		return nil
	}},
	{"migrate-on-get", "SESSIOND_MIGRATE_ON_GET", "false", "GET /api/auth/session-v2 without a valid session migrates the request's legacy cookies and answers with the new session, as POST /api/auth/migrate-session does (needs --legacy-validate-url)", Serve, boolSetter(func(c *Config) *bool { return &c.MigrateOnGet })},
	{"migration", "SESSIOND_MIGRATION", "on", "legacy migration at start: on (when a validate URL is set) or off, the rollback switch (PUT /admin/v1/migration flips it at run time, per node)", Serve, func(c *Config, v string) error {
		switch v = strings.ToLower(v); v {
		case "on", "off":
			c.Migration = v
			return nil
		}
		return errors.New("must be on or off")
	}},
	{"upstream", "SESSIOND_UPSTREAM", "", "application URL to proxy every other path to (reverse-proxy mode)", Serve, func(c *Config, v string) error {
		u, err := httpURL(v)
		if err != nil {
			return err
		}
		c.Upstream = u
		return nil
	}},
	{"login-url", "SESSIOND_LOGIN_URL", "", "login page that unauthenticated browsers are sent to (forward auth with ?redirect=1, /auth/migrate)", Serve, func(c *Config, v string) error {
		if !strings.HasPrefix(v, "/") {
			if _, err := httpURL(v); err != nil {
				return errors.New("must be a path or an http(s) URL")
			}
		}
		c.LoginURL = v
		return nil
	}},
	{"identity-headers", "SESSIOND_IDENTITY_HEADERS", "X-User-Id,X-User-Email,X-Tenant-Id,X-Session-Id", "names of the user id, email, tenant and session id headers", Serve, func(c *Config, v string) error {
		names := splitList(v)
		if len(names) != 4 {
			return errors.New("must be four comma-separated header names")
		}
		for _, h := range names {
			if strings.ContainsAny(h, " :\t\r\n") {
				return fmt.Errorf("%q is not a header name", h)
			}
		}
		c.IdentityHeaders = sessionhttp.IdentityHeaders{UserID: names[0], Email: names[1], TenantID: names[2], SessionID: names[3]}
		return nil
	}},
	{"log-level", "SESSIOND_LOG_LEVEL", "info", "debug, info, warn or error", Common, func(c *Config, v string) error {
		switch v = strings.ToLower(v); v {
		case "debug", "info", "warn", "error":
			c.LogLevel = v
			return nil
		}
		return errors.New("must be debug, info, warn or error")
	}},
	{"log-format", "SESSIOND_LOG_FORMAT", "json", "json or text", Common, func(c *Config, v string) error {
		switch v = strings.ToLower(v); v {
		case "json", "text":
			c.LogFormat = v
			return nil
		}
		return errors.New("must be json or text")
	}},
}

// Register adds the settings of the given scopes to fs and returns a
// function that, after fs.Parse, fills a Config from the flags that were set,
// then the environment, then the defaults.
func Register(fs *flag.FlagSet, getenv func(string) string, scopes ...Scope) func() (Config, error) {
	var active []setting
	raw := map[string]string{}
	for _, s := range settings {
		for _, sc := range scopes {
			if s.scope == sc {
				active = append(active, s)
				fs.Var(&rawValue{name: s.flag, raw: raw, isBool: s.def == "true" || s.def == "false"},
					s.flag, fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
			}
		}
	}
	return func() (Config, error) {
		var c Config
		// Every setting gets its default first, so that settings outside
		// the active scopes still hold sensible values.
		for _, s := range settings {
			if err := s.set(&c, s.def); err != nil && s.def != "" {
				panic(fmt.Sprintf("config: default of --%s: %v", s.flag, err))
			}
		}
		for _, s := range active {
			v, ok := raw[s.flag]
			source := "--" + s.flag
			if !ok {
				if ev := getenv(s.env); ev != "" {
					v, ok, source = ev, true, s.env
				}
			}
			if !ok {
				continue
			}
			if err := s.set(&c, v); err != nil {
				return Config{}, fmt.Errorf("invalid %s %q (flag --%s, env %s): %v", source, v, s.flag, s.env, err)
			}
			if c.Given == nil {
				c.Given = map[string]bool{}
			}
			c.Given[s.flag] = true
		}
		return c, c.validate()
	}
}

// rawValue records a flag's text; parsing happens later, in one place for
// flags and environment alike. Boolean settings take "--demo" alone as true.
type rawValue struct {
	name   string
	raw    map[string]string
	isBool bool
}

func (v *rawValue) String() string {
	if v == nil || v.raw == nil {
		return ""
	}
	return v.raw[v.name]
}

func (v *rawValue) Set(s string) error {
	v.raw[v.name] = s
	return nil
}

func (v *rawValue) IsBoolFlag() bool { return v.isBool }

func (c Config) validate() error {
	if c.Lifetime <= 0 {
		return errors.New("invalid --lifetime (SESSIOND_LIFETIME): must be positive")
	}
	if c.IdleTimeout <= 0 {
		return errors.New("invalid --idle-timeout (SESSIOND_IDLE_TIMEOUT): must be positive")
	}
	if c.IdleTimeout > c.Lifetime {
		return fmt.Errorf("invalid --idle-timeout (SESSIOND_IDLE_TIMEOUT): %v is longer than --lifetime %v, which ends every session first", c.IdleTimeout, c.Lifetime)
	}
	if c.CookieSameSite == http.SameSiteNoneMode && !c.CookieSecure {
		return errors.New("invalid --cookie-samesite none (SESSIOND_COOKIE_SAMESITE): browsers drop a SameSite=None cookie without Secure; keep --cookie-secure=true")
	}
	if c.TouchInterval <= 0 || c.TouchInterval >= c.IdleTimeout {
		return errors.New("invalid --touch-interval (SESSIOND_TOUCH_INTERVAL): must be positive and shorter than --idle-timeout")
	}
	if c.WebhookURL != "" && c.WebhookSecretFile == "" {
		return errors.New("invalid --webhook-url (SESSIOND_WEBHOOK_URL): needs --webhook-secret-file to sign deliveries")
	}
	if c.CacheTTL <= 0 {
		return errors.New("invalid --cache-ttl (SESSIOND_CACHE_TTL): must be positive")
	}
	if c.MigrateOnGet && c.LegacyValidateURL == "" {
		return errors.New("invalid --migrate-on-get (SESSIOND_MIGRATE_ON_GET): needs --legacy-validate-url, the old backend that checks legacy cookies")
	}
	base := strings.TrimPrefix(strings.TrimPrefix(c.CookieName, "__Host-"), "__Secure-")
	for _, n := range c.LegacyCookies {
		for _, sid := range []string{base, "__Host-" + base, "__Secure-" + base} {
			if ok, _ := path.Match(n, sid); ok {
				return fmt.Errorf("invalid --legacy-cookies (SESSIOND_LEGACY_COOKIES): %q names the session cookie %q", n, sid)
			}
		}
	}
	return nil
}

// Table writes the settings of the scopes as a Markdown table, the one the
// README shows.
func Table(w io.Writer, scopes ...Scope) {
	fmt.Fprintln(w, "| flag | environment | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, s := range settings {
		for _, sc := range scopes {
			if s.scope == sc {
				def := s.def
				if def == "" {
					def = "none"
				}
				fmt.Fprintf(w, "| `--%s` | `%s` | `%s` | %s |\n", s.flag, s.env, def, s.usage)
			}
		}
	}
}

func boolSetter(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		*field(c) = b
		return nil
	}
}

func intSetter(lo, hi int, field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be a whole number from %d to %d", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

func durationSetter(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("must be a positive duration such as 90s, 30m or 24h")
		}
		*field(c) = d
		return nil
	}
}

var sameSiteModes = map[string]http.SameSite{"lax": http.SameSiteLaxMode, "strict": http.SameSiteStrictMode, "none": http.SameSiteNoneMode}

// SameSiteName is the --cookie-samesite value of mode: lax, strict or none.
func SameSiteName(mode http.SameSite) string {
	for name, m := range sameSiteModes {
		if m == mode {
			return name
		}
	}
	return "lax"
}

// httpURL parses v as an absolute http or https URL; empty is nil, no URL.
func httpURL(v string) (*url.URL, error) {
	if v == "" {
		return nil, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("must be an http or https URL")
	}
	return u, nil
}

// maxLegacyKeep is the longest shadow period: the time the replay guard
// remembers a migrated credential.
const maxLegacyKeep = sessionhttp.DefaultReplayRetention

// parseDays parses a duration as time.ParseDuration does, and also a whole
// number of days such as "7d"; "0" is zero.
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 1<<16 {
			return 0, errors.New("not a number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

func splitList(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseBytes parses a size as GOMEMLIMIT does: a whole number with an
// optional unit, B, KiB, MiB, GiB or TiB.
func parseBytes(v string) (uint64, error) {
	num, unit := v, uint64(1)
	for i, suffix := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			num, unit = n, 1<<(10*(4-i))
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > math.MaxUint64/unit {
		return 0, errors.New("must be a size such as 64MiB, 1GiB or 0 (a whole number with B, KiB, MiB, GiB or TiB)")
	}
	return n * unit, nil
}

// positiveInt parses a count of at least one.
func positiveInt(v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("must be a whole number of at least 1")
	}
	*dst = n
	return nil
}
