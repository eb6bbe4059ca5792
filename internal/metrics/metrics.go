// Package metrics exposes sessiond's Prometheus metrics: requests and their
// latency by route, logins by outcome, legacy migrations by outcome and the
// size of the node cache.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
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

	mu     sync.RWMutex
	routes map[string]prometheus.Observer
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
		routes: map[string]prometheus.Observer{},
	}
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
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.observer(route).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	})
}

func (m *Metrics) observer(route string) prometheus.Observer {
	m.mu.RLock()
	o, ok := m.routes[route]
	m.mu.RUnlock()
	if ok {
		return o
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o = m.latency.WithLabelValues(route)
	m.routes[route] = o
	return o
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
