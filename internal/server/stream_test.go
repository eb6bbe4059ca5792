package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/server"
)

// eventStream is an open GET /api/auth/session-v2/stream, read line by line.
type eventStream struct {
	res    *http.Response
	lines  chan string
	cancel context.CancelFunc
}

func openStream(t *testing.T, base, token string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/auth/session-v2/stream", nil)
	req.Header.Set("Cookie", "sid="+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	es := &eventStream{res: res, lines: make(chan string, 64), cancel: cancel}
	go func() {
		defer close(es.lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			es.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cancel(); res.Body.Close() })
	return es
}

// next returns the next event's name, skipping comments and data lines, or
// fails after wait, naming what it was waiting for.
func (es *eventStream) next(t *testing.T, what string, wait time.Duration) string {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case line, ok := <-es.lines:
			if !ok {
				t.Fatalf("%s: the stream ended", what)
			}
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				return name
			}
		case <-timeout:
			t.Fatalf("%s: no event within %v", what, wait)
		}
	}
}

func TestStream_ChangedThenRevokedWhenAnotherDeviceEndsIt(t *testing.T) {
	s := start(t, options{})
	phone := s.login(t)
	laptop := s.login(t)
	es := openStream(t, s.url, phone)
	if es.res.StatusCode != 200 || es.res.Header.Get("Content-Type") != "text/event-stream" ||
		es.res.Header.Get("X-Accel-Buffering") != "no" || es.res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream answer: %d %v", es.res.StatusCode, es.res.Header)
	}
	if e := es.next(t, "open", 5*time.Second); e != "ready" {
		t.Fatalf("first event %q, want ready", e)
	}
	if r := s.call(t, "PATCH", sessionPath, `{"data":{"step":"two"}}`, phone); r.status != 200 {
		t.Fatalf("PATCH: %d", r.status)
	}
	if e := es.next(t, "after a data change", 5*time.Second); e != "changed" {
		t.Fatalf("after a data change: %q, want changed", e)
	}
	g := s.get(t, phone)
	id := g.json(t)["session"].(map[string]any)["id"].(string)
	revoked := time.Now()
	if r := s.call(t, "DELETE", "/api/auth/sessions/"+id, "", laptop); r.status != http.StatusNoContent {
		t.Fatalf("revoke from the laptop: %d %s", r.status, r.body)
	}
	for {
		e := es.next(t, "after the revocation", 5*time.Second)
		if e == "revoked" {
			t.Logf("revoked event %v after the revocation answered", time.Since(revoked).Round(time.Millisecond))
			break
		}
		if e != "changed" {
			t.Fatalf("after the revocation: %q, want revoked", e)
		}
	}
	if _, ok := <-es.lines; ok {
		for range es.lines {
		}
	}
}

func TestStream_RefusesWithoutASessionAndBeyondTheBound(t *testing.T) {
	s := start(t, options{deps: func(d *server.Deps) { d.MaxStreamsPerUser = 2 }})
	if r := s.do(t, "GET", "/api/auth/session-v2/stream", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("without a session: %d", r.status)
	}
	token := s.login(t)
	for i := range 2 {
		if es := openStream(t, s.url, token); es.next(t, fmt.Sprint("stream ", i), 5*time.Second) != "ready" {
			t.Fatalf("stream %d not ready", i)
		}
	}
	r := s.call(t, "GET", "/api/auth/session-v2/stream", "", token)
	if r.status != http.StatusTooManyRequests || r.json(t)["error"] != "too_many_streams" || r.header.Get("Retry-After") == "" {
		t.Fatalf("third stream of one user: %d %s %v", r.status, r.body, r.header)
	}
}
