package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond"
)

// Store registers the store-call metrics and returns the Manager's
// StoreObserver: every call's duration by operation (the store method), and
// failures by operation. ErrNotFound and ErrConflict are answers, not
// failures, and a call whose client went away (context.Canceled) is not the
// store's failure; a deadline that passed is. Call it once per Metrics.
func (m *Metrics) Store() sessiond.StoreObserver {
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sessiond_store_operation_duration_seconds", Help: "Duration of store calls by operation, failed ones included.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"op"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sessiond_store_errors_total", Help: "Store calls that failed (timeouts and errors; not-found and conflict answers excluded), by operation.",
	}, []string{"op"})
	m.reg.MustRegister(latency, failures)
	type collectors struct {
		latency  prometheus.Observer
		failures prometheus.Counter
	}
	var ops sync.Map // op -> collectors, resolved once per operation
	return func(op string, d time.Duration, err error) {
		c, ok := ops.Load(op)
		if !ok {
			c, _ = ops.LoadOrStore(op, collectors{latency.WithLabelValues(op), failures.WithLabelValues(op)})
		}
		cs := c.(collectors)
		cs.latency.Observe(d.Seconds())
		if err != nil && !errors.Is(err, sessiond.ErrNotFound) && !errors.Is(err, sessiond.ErrConflict) && !errors.Is(err, context.Canceled) {
			cs.failures.Inc()
		}
	}
}
