// Package metrics exposes sessiond's Prometheus metrics: requests and their
// latency by route, logins by outcome, legacy migrations by outcome and the
// size of the node cache.
package metrics

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessiond/sessiond/sessionhttp"
)

// Metrics holds the collectors of one server. Its zero value is not usable;
// build it with New.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	logins      *prometheus.CounterVec
	migrations  *prometheus.CounterVec
	validations *prometheus.CounterVec
	// The three validation outcomes, resolved once: validation is the hot
	// path.
	valid, invalid, unavailable prometheus.Counter

	// byRoute holds the request collectors of each route and status,
	// resolved once: a map read with no lock on every request, replaced
	// by a copy (under mu) when a route or status is first seen.
	mu      sync.Mutex
	byRoute atomic.Pointer[map[routeCode]routeMetrics]
}

type routeCode struct {
	route string
	code  int
}

type routeMetrics struct {
	latency  prometheus.Observer
	requests prometheus.Counter
}

// New registers the collectors; cacheLen, when set, reports the node
// cache's size.
func New(cacheLen func() int) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessiond_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_logins_total", Help: "Login attempts by outcome (success, invalid_credentials, too_many_requests, busy, ...).",
		}, []string{"outcome"}),
		migrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_legacy_migrations_total", Help: "Legacy-cookie migrations by outcome.",
		}, []string{"outcome"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_validations_total", Help: "Session validations by outcome (valid, invalid, unavailable).",
		}, []string{"outcome"}),
	}
	m.byRoute.Store(&map[routeCode]routeMetrics{})
	m.valid = m.validations.WithLabelValues("valid")
	m.invalid = m.validations.WithLabelValues("invalid")
	m.unavailable = m.validations.WithLabelValues("unavailable")
	m.reg.MustRegister(m.requests, m.latency, m.logins, m.migrations, m.validations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cacheLen != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sessiond_cache_sessions", Help: "Sessions held in this node's cache.",
		}, func() float64 { return float64(cacheLen()) }))
	}
	return m
}

// ObserveStreams reports the open live-revocation streams through open.
func (m *Metrics) ObserveStreams(open func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sessiond_session_streams", Help: "Open live-revocation streams (GET /api/auth/session-v2/stream) on this node.",
	}, func() float64 { return float64(open()) }))
}

// ObserveMigration reports the migration switch through enabled: 1 when
// this node migrates legacy cookies, 0 when it does not (switched off, or
// not configured).
func (m *Metrics) ObserveMigration(enabled func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sessiond_migration_enabled", Help: "1 when this node migrates legacy cookies (--migration, PUT /admin/v1/migration), 0 otherwise.",
	}, func() float64 {
		if enabled() {
			return 1
		}
		return 0
	}))
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Login counts a login attempt's outcome.
func (m *Metrics) Login(outcome string) { m.logins.WithLabelValues(outcome).Inc() }

// Validation counts a session validation: err nil is valid, an
// unavailable store is unavailable, anything else invalid.
func (m *Metrics) Validation(err error, unavailable bool) {
	switch {
	case err == nil:
		m.valid.Inc()
	case unavailable:
		m.unavailable.Inc()
	default:
		m.invalid.Inc()
	}
}

// Migration counts a migration outcome.
func (m *Metrics) Migration(outcome sessionhttp.Outcome) {
	m.migrations.WithLabelValues(string(outcome)).Inc()
}

// Instrument counts and times requests by the route pattern that served
// them (never the raw path, which a client chooses).
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := statusWriters.Get().(*statusWriter)
		*sw = statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		code := sw.code
		*sw = statusWriter{} // keeps no response alive in the pool
		statusWriters.Put(sw)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		rm := m.route(route, code)
		rm.latency.Observe(time.Since(start).Seconds())
		rm.requests.Inc()
	})
}

// statusWriters recycles the wrappers of Instrument: a handler must not use
// its ResponseWriter once it has returned (net/http's rule), so the
// wrapper is free again then.
var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// route returns the collectors of route and code. The routes are the
// server's patterns and the codes those it answers (or, behind the reverse
// proxy, the application's), so the map stays small.
func (m *Metrics) route(route string, code int) routeMetrics {
	k := routeCode{route, code}
	if rm, ok := (*m.byRoute.Load())[k]; ok {
		return rm
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.byRoute.Load()
	if rm, ok := old[k]; ok {
		return rm
	}
	rm := routeMetrics{latency: m.latency.WithLabelValues(route), requests: m.requests.WithLabelValues(route, strconv.Itoa(code))}
	next := make(map[routeCode]routeMetrics, len(old)+1)
	maps.Copy(next, old)
	next[k] = rm
	m.byRoute.Store(&next)
	return rm
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushing for
// server-sent events, hijacking for websockets through the proxy).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush supports streaming responses.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
