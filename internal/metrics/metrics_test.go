package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// scrape returns the text of GET /metrics.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

func TestInstrument_CountsByRouteAndCode(t *testing.T) {
	m := New(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /b/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "gone" {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusTeapot) // ignored, as net/http ignores it
			return
		}
		w.Write([]byte("ok"))
	})
	h := m.Instrument(mux)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, p := range []string{"/a", "/b/1", "/b/gone", "/nowhere"} {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
			}
		})
	}
	wg.Wait()
	text := scrape(t, m)
	for _, want := range []string{
		`sessiond_http_requests_total{code="200",route="GET /a"} 8`,
		`sessiond_http_requests_total{code="200",route="GET /b/{id}"} 8`,
		`sessiond_http_requests_total{code="404",route="GET /b/{id}"} 8`,
		`sessiond_http_request_duration_seconds_count{route="GET /b/{id}"} 16`,
		`sessiond_http_request_duration_seconds_count{route="GET /a"} 8`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
	// The mux's own 404 for an unknown path has no pattern.
	if !strings.Contains(text, `sessiond_http_requests_total{code="404",route="unmatched"} 8`) {
		t.Errorf("an unmatched path is not counted as route=\"unmatched\":\n%s", text)
	}
}

// Instrument is on every request: once a route and code were seen, it
// allocates nothing.
func TestInstrument_NoAllocation(t *testing.T) {
	m := New(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := m.Instrument(mux)
	r := httptest.NewRequest("GET", "/a", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("Instrument: %v allocations per request", n)
	}
}

func BenchmarkInstrument(b *testing.B) {
	m := New(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := m.Instrument(mux)
	r := httptest.NewRequest("GET", "/a", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := httptest.NewRecorder()
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}
