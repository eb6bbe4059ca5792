package webhook_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/internal/webhook"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func event(id string) sessiond.Event {
	return sessiond.Event{ID: id, Type: sessiond.EventLogin, UserID: "u1", SessionID: "s1", At: time.Unix(1700000000, 0).UTC()}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestDeliver_SignsEachEvent(t *testing.T) {
	defer goleak.VerifyNone(t)
	got := make(chan sessiond.Event, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get(webhook.HeaderTimestamp)
		if r.Header.Get(webhook.HeaderSignature) != webhook.Sign(key, ts, body) {
			t.Errorf("bad signature")
		}
		if webhook.Sign([]byte("another key"), ts, body) == r.Header.Get(webhook.HeaderSignature) {
			t.Errorf("signature does not depend on the key")
		}
		var e sessiond.Event
		json.Unmarshal(body, &e)
		got <- e
	}))
	defer srv.Close()
	s := webhook.New(srv.URL, key, slog.New(slog.DiscardHandler), webhook.Options{})
	defer s.Close()
	s.Enqueue(event("e1"))
	select {
	case e := <-got:
		if e.ID != "e1" || e.Type != "login" || e.UserID != "u1" {
			t.Fatalf("delivered %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not delivered")
	}
}

func TestDeliver_RetriesThenLogsUndelivered(t *testing.T) {
	defer goleak.VerifyNone(t)
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	var logs testenv.Buffer
	s := webhook.New(srv.URL, key, slog.New(slog.NewJSONHandler(&logs, nil)), webhook.Options{Attempts: 3, Backoff: time.Millisecond})
	defer s.Close()
	s.Enqueue(event("e2"))
	waitFor(t, "the undelivered log line", func() bool { return strings.Contains(logs.String(), `"msg":"webhook undelivered","event_id":"e2"`) })
	if calls.Load() != 3 {
		t.Fatalf("%d attempts, want 3", calls.Load())
	}
}

func TestDeliver_RecoversAfterAFailure(t *testing.T) {
	defer goleak.VerifyNone(t)
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	var logs testenv.Buffer
	s := webhook.New(srv.URL, key, slog.New(slog.NewJSONHandler(&logs, nil)), webhook.Options{Backoff: time.Millisecond})
	defer s.Close()
	s.Enqueue(event("e3"))
	waitFor(t, "the second attempt", func() bool { return calls.Load() == 2 })
	s.Close()
	if strings.Contains(logs.String(), "undelivered") {
		t.Fatalf("a retried delivery was logged as lost: %s", logs.String())
	}
}

func TestEnqueue_NeverBlocksOnAHangingEndpoint(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	var logs testenv.Buffer
	s := webhook.New(srv.URL, key, slog.New(slog.NewJSONHandler(&logs, nil)), webhook.Options{Queue: 4, Workers: 1, Timeout: 50 * time.Millisecond, Attempts: 2, Backoff: time.Millisecond})
	start := time.Now()
	for i := range 100 {
		s.Enqueue(event("h" + string(rune('a'+i%26))))
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("100 Enqueue calls took %v against a hanging endpoint", d)
	}
	if !strings.Contains(logs.String(), `"reason":"queue full"`) {
		t.Fatal("events dropped on a full queue were not logged")
	}
	waitFor(t, "a timed-out delivery to be logged", func() bool { return strings.Contains(logs.String(), `"attempts":2`) })
	s.Close()
}

func TestDeliver_ARedirectIsNotADelivery(t *testing.T) {
	defer goleak.VerifyNone(t)
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	var logs testenv.Buffer
	s := webhook.New(srv.URL, key, slog.New(slog.NewJSONHandler(&logs, nil)), webhook.Options{Attempts: 1})
	s.Enqueue(event("r1"))
	waitFor(t, "the undelivered log line", func() bool { return strings.Contains(logs.String(), "undelivered") })
	s.Close()
	if followed.Load() {
		t.Fatal("the redirect was followed")
	}
}
