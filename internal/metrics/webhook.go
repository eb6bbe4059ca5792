package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Webhook registers the webhook delivery metrics and returns the function
// that webhook.Options.Observe takes: attempts by outcome (delivered,
// failed), events given up (undelivered), and each attempt's duration.
// Call it once per Metrics.
func (m *Metrics) Webhook() func(outcome string, d time.Duration) {
	attempts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sessiond_webhook_deliveries_total", Help: "Webhook delivery attempts by outcome (delivered, failed) and events given up (undelivered).",
	}, []string{"outcome"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sessiond_webhook_delivery_duration_seconds", Help: "Duration of webhook delivery attempts, failed ones included.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.reg.MustRegister(attempts, latency)
	return func(outcome string, d time.Duration) {
		attempts.WithLabelValues(outcome).Inc()
		if outcome != "undelivered" {
			latency.Observe(d.Seconds())
		}
	}
}
