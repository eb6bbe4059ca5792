// Package server is the sessiond HTTP server: the JSON session API, health
// endpoints and their middleware. It is given a *sessiond.Manager, never a
// concrete store.
package server

import (
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/sessionhttp"
)

// Deps is what the server needs.
type Deps struct {
	Manager  *sessiond.Manager
	Accounts *accounts.Service
	Cookies  *sessionhttp.Cookies
	Logger   *slog.Logger

	// AllowedOrigins are trusted for cross-origin state-changing requests
	// and get CORS with credentials. An origin may have a wildcard for one
	// leading label: https://*.example.com.
	AllowedOrigins []string
	// CORSAllowedHeaders are request headers allowed cross-origin besides
	// Content-Type (Django's X-CSRFToken).
	CORSAllowedHeaders []string
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// AdminToken enables the admin API when not empty.
	AdminToken string
	// Identity names the identity headers of forward auth and of the
	// reverse proxy. Default sessionhttp.DefaultIdentityHeaders().
	Identity sessionhttp.IdentityHeaders
	// LoginURL and RedirectHosts configure forward auth's optional
	// redirect to a login page (see sessionhttp.ForwardAuth).
	LoginURL      string
	RedirectHosts []string
	// Migrator, when set, migrates legacy cookies (forward auth, the
	// reverse proxy, POST /api/auth/migrate-session). Its Sessions must be
	// set, on the same Manager and Cookies; the server does not change it.
	Migrator *sessionhttp.Migrator
	// MigrateOnGet, with a Migrator, migrates the legacy cookies of a
	// GET /api/auth/session-v2 that has no valid session, as POST
	// /api/auth/migrate-session does.
	MigrateOnGet bool
	// Upstream, when set, is the application sessiond proxies every path
	// it does not serve itself to.
	Upstream *url.URL
	// Metrics, when set, counts requests and serves GET /metrics.
	Metrics *metrics.Metrics
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// MaxStreams and MaxStreamsPerUser bound the open live-revocation
	// streams of this node (defaults DefaultMaxStreams and
	// DefaultMaxStreamsPerUser); StreamHeartbeat is how often an idle
	// stream sends a comment (default DefaultStreamHeartbeat).
	MaxStreams, MaxStreamsPerUser int
	StreamHeartbeat               time.Duration
	// Shutdown, when set, is closed when the server begins to shut down:
	// open streams then end (http.Server.Shutdown does not end them).
	Shutdown <-chan struct{}
	// SeparateAdmin leaves the admin API and /metrics out of NewServer's
	// handler, for NewAdminServer's on a listener of their own (a loopback
	// or private address, so that the public port does not expose them).
	SeparateAdmin bool
}

// Limits on request bodies.
const (
	maxBodyBytes = 64 << 10
)

type server struct {
	Deps
	log          *slog.Logger
	adminDigest  []byte // SHA-256 of the admin token; nil: admin API off
	sessions     *sessionhttp.Sessions
	clientOf     func(*http.Request) sessiond.Client // sessionhttp.ClientFrom the trusted proxies
	streams      streams
	shutdown     <-chan struct{} // Deps.Shutdown, or never
	origins      origins         // Deps.AllowedOrigins taken apart
	allowHeaders string          // Access-Control-Allow-Headers
	idleTimeout  time.Duration   // the Manager's IdleTimeout
	devices      *deviceLabels
}

// NewAdminServer returns the handler of the admin listener: the admin API,
// /metrics, the health checks and the API's document.
func NewAdminServer(d Deps) http.Handler {
	s := newServer(d)
	mux := http.NewServeMux()
	s.adminRoutes(mux)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("GET /openapi.json", s.handleOpenAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, errNotFound) })
	var h http.Handler = mux
	if d.Metrics != nil {
		h = d.Metrics.Instrument(h)
	}
	return s.recoverPanics(h)
}

// NewServer returns the sessiond HTTP handler.
func NewServer(d Deps) http.Handler {
	s := newServer(d)
	if d.Metrics != nil {
		d.Metrics.ObserveStreams(s.streams.count)
		d.Metrics.ObserveMigration(func() bool { return d.Migrator != nil && d.Migrator.Enabled() })
	}
	mux := http.NewServeMux()
	s.routes(mux)
	// Store calls are bounded by the Manager's StoreTimeout, not here: a
	// request served from the cache should not pay for a timer.
	var h http.Handler = newExactRoutes(mux)
	if d.Metrics != nil {
		h = d.Metrics.Instrument(h)
	}
	return s.recoverPanics(h)
}

func newServer(d Deps) *server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Identity == (sessionhttp.IdentityHeaders{}) {
		d.Identity = sessionhttp.DefaultIdentityHeaders()
	}
	if d.MaxStreams <= 0 {
		d.MaxStreams = DefaultMaxStreams
	}
	if d.MaxStreamsPerUser <= 0 {
		d.MaxStreamsPerUser = DefaultMaxStreamsPerUser
	}
	if d.StreamHeartbeat <= 0 {
		d.StreamHeartbeat = DefaultStreamHeartbeat
	}
	s := &server{Deps: d, log: d.Logger, shutdown: d.Shutdown, origins: newOrigins(d.AllowedOrigins),
		allowHeaders: strings.Join(append([]string{"Content-Type"}, d.CORSAllowedHeaders...), ", ")}
	if s.shutdown == nil {
		s.shutdown = make(chan struct{})
	}
	s.clientOf = sessionhttp.ClientFrom(d.TrustedProxies...)
	s.idleTimeout = d.Manager.Config().IdleTimeout
	s.devices = newDeviceLabels()
	s.sessions = &sessionhttp.Sessions{Manager: d.Manager, Cookies: d.Cookies, Client: s.client, OnValid: noteSession}
	if d.Metrics != nil {
		s.sessions.Observe = func(err error) { d.Metrics.Validation(err, errors.Is(err, sessiond.ErrUnavailable)) }
	}
	if d.Migrator != nil && d.Migrator.Sessions == nil {
		panic("server: Deps.Migrator.Sessions is not set")
	}
	if d.AdminToken != "" {
		sum := sha256.Sum256([]byte(d.AdminToken))
		s.adminDigest = sum[:]
	}
	return s
}

// recoverPanics turns a panic into a logged 500 instead of a dropped
// connection. No input should cause one; this is the last line.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, errInternal)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
