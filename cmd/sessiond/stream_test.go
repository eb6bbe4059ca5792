package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sse is an open live-revocation stream, its event names read as they come.
type sse struct {
	events chan string
	status int
}

func openSSE(t *testing.T, base, token string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/auth/session-v2/stream", nil)
	req.Header.Set("Cookie", "sid="+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &sse{events: make(chan string, 16), status: res.StatusCode}
	go func() {
		defer res.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				s.events <- name
			}
		}
	}()
	return s
}

// await returns once the stream sends want, skipping others, or fails
// naming where the stream is held, what it waited for and what came.
func (s *sse) await(t *testing.T, where, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(within)
	var seen []string
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatalf("stream on %s ended before %q (saw %v)", where, want, seen)
			}
			if e == want {
				return time.Since(start)
			}
			seen = append(seen, e)
		case <-timeout:
			t.Fatalf("stream on %s: no %q within %v (saw %v)", where, want, within, seen)
		}
	}
}

// sessionID returns the public id of token's session.
func (c client) sessionID(token string) string {
	c.t.Helper()
	res, body := c.do("GET", "/api/auth/session-v2", "", token)
	var s struct {
		Session struct{ ID string } `json:"session"`
	}
	json.Unmarshal([]byte(body), &s)
	if res.StatusCode != 200 || s.Session.ID == "" {
		c.t.Fatalf("GET session on %s: %d %s", c.url, res.StatusCode, body)
	}
	return s.Session.ID
}

// streamSeesARevocationOnAnotherNode holds a stream on node B and revokes
// its session from another device on node A.
func streamSeesARevocationOnAnotherNode(t *testing.T, store string) {
	a := startNode(t, store, "--cache-ttl", "1h")
	b := startNode(t, store, "--cache-ttl", "1h")
	ca, cb := client{t, a.url}, client{t, b.url}
	phone := cb.login("test@example.com", "password")
	laptop := ca.login("test@example.com", "password")
	s := openSSE(t, b.url, phone)
	s.await(t, "node B", "ready", 10*time.Second)
	id := cb.sessionID(phone)
	if res, body := ca.do("DELETE", "/api/auth/sessions/"+id, "", laptop); res.StatusCode != 204 {
		t.Fatalf("revoke on node A: %d %s", res.StatusCode, body)
	}
	took := s.await(t, "node B", "revoked", 5*time.Second)
	t.Logf("revoked event on node B %v after the revocation on node A answered", took.Round(time.Microsecond))
}

func TestTwoNodes_PostgreSQL_StreamOnBSeesARevocationOnA(t *testing.T) {
	streamSeesARevocationOnAnotherNode(t, postgresStore(t))
}

func TestTwoNodes_Redis_StreamOnBSeesARevocationOnA(t *testing.T) {
	streamSeesARevocationOnAnotherNode(t, ownRedis(t).url)
}

func TestTwoNodes_SQLite_StreamOnBSeesARevocationOnA(t *testing.T) {
	streamSeesARevocationOnAnotherNode(t, "sqlite:"+filepath.Join(t.TempDir(), "s.db"))
}

// TestNginx_LiveRevocationStreamPassesThroughAtOnce: behind the shipped
// nginx configuration the stream's events are not buffered: the revoked
// event arrives while the connection stays open.
func TestNginx_LiveRevocationStreamPassesThroughAtOnce(t *testing.T) {
	legacy := newLegacyApp(t)
	p := startServer(t, filepath.Join(t.TempDir(), "s.db"), "--cookie-secure=false", "--trusted-proxies", "127.0.0.1/32")
	site := startNginx(t, strings.TrimPrefix(p.url, "http://"), strings.TrimPrefix(legacy.app.URL, "http://"))
	c := client{t, site}
	phone := c.login("test@example.com", "password")
	laptop := c.login("test@example.com", "password")
	s := openSSE(t, site, phone)
	if s.status != 200 {
		t.Fatalf("stream through nginx: %d", s.status)
	}
	s.await(t, "nginx", "ready", 10*time.Second)
	if res, body := c.do("DELETE", "/api/auth/sessions/"+c.sessionID(phone), "", laptop); res.StatusCode != 204 {
		t.Fatalf("revoke through nginx: %d %s", res.StatusCode, body)
	}
	s.await(t, "nginx", "revoked", 5*time.Second)
}
