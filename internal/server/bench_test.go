package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGetSession measures the handler alone (no network) for a valid
// session, to find where the time goes; the load figures are in bench/.
func BenchmarkGetSession(b *testing.B) {
	t := &testing.T{}
	s := start(t, options{cache: true})
	token := s.login(t)
	req := httptest.NewRequest("GET", sessionPath, nil)
	req.Header.Set("Cookie", "sid="+token)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
