package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSQLiteNodeKilledUnderLoad_LosesNoAnsweredWrite: on SQLite the store
// lives in the node's process, so a crash of the store is a crash of the
// node. A node serves logins, session data updates (PATCH) and logouts
// from 8 clients at once, whose writes share commits; it is killed with
// SIGKILL in the middle of them and a node started again on the same file
// finds every write that was answered: a login that answered 200 is a
// valid session holding the data of its last answered PATCH (or a later
// one), a logout that answered 204 is a 401. Sessions whose logout was
// asked but not answered are not checked.
func TestSQLiteNodeKilledUnderLoad_LosesNoAnsweredWrite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	url, cmd := startChild(t, "--demo", "--store", "sqlite:"+db,
		"--throttle-account-attempts", "1000000", "--throttle-address-attempts", "1000000")

	hc := &http.Client{Timeout: 10 * time.Second}
	// call returns the status and the sid cookie set, the error code of an
	// error answer, or status 0 and the transport error's text.
	call := func(method, body, token string) (int, string) {
		req, _ := http.NewRequest(method, url+"/api/auth/session-v2", strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Cookie", "sid="+token)
		}
		res, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		if res.StatusCode >= 400 {
			var e struct{ Error string }
			json.NewDecoder(res.Body).Decode(&e)
			return res.StatusCode, e.Error
		}
		io.Copy(io.Discard, res.Body)
		for _, c := range res.Cookies() {
			if c.Name == "sid" && c.MaxAge >= 0 {
				return res.StatusCode, c.Value
			}
		}
		return res.StatusCode, ""
	}
	login, _ := json.Marshal(map[string]string{"email": "test@example.com", "password": "password"})

	type session struct {
		patched               int // the n of the last answered PATCH, -1 for none
		loggingOut, loggedOut bool
	}
	var (
		mu       sync.Mutex
		sessions = map[string]*session{}
		answered int
		failures []string
		killed   = make(chan struct{})
	)
	note := func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		f()
	}
	fail := func(format string, args ...any) {
		select {
		case <-killed: // answers cut by the kill are expected
			return
		default:
		}
		note(func() {
			if len(failures) < 10 {
				failures = append(failures, fmt.Sprintf(format, args...))
			}
		})
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				default:
				}
				code, token := call("POST", string(login), "")
				if code == 503 && token == "busy" {
					// Eight clients logging in at once on a busy machine
					// fill the password hasher's queue: load shedding,
					// answered before anything is written. Try again.
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if code != 200 || token == "" {
					fail("login: %d %s", code, token)
					return
				}
				s := &session{patched: -1}
				note(func() { sessions[token] = s; answered++ })
				for n := range 6 {
					code, detail := call("PATCH", fmt.Sprintf(`{"data":{"n":%d,"worker":%d}}`, n, w), token)
					if code != 200 {
						fail("PATCH: %d %s", code, detail)
						return
					}
					note(func() { s.patched = n; answered++ })
				}
				if i%2 == 1 {
					note(func() { s.loggingOut = true })
					if code, detail := call("DELETE", "", token); code != 204 {
						fail("logout: %d %s", code, detail)
						return
					}
					note(func() { s.loggedOut = true; answered++ })
				}
			}
		})
	}
	start := time.Now()
	for {
		mu.Lock()
		n, failed := answered, len(failures)
		mu.Unlock()
		if n >= 400 || failed > 0 || time.Since(start) > 60*time.Second {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(killed)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killedAt := time.Since(start)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("before the kill: %s", strings.Join(failures, "; "))
	}
	if answered < 50 {
		t.Fatalf("only %d writes answered in %v before the kill", answered, killedAt.Round(time.Millisecond))
	}
	t.Logf("killed after %v, %d writes answered, %d sessions", killedAt.Round(time.Millisecond), answered, len(sessions))

	p := startServer(t, db)
	c := client{t, p.url}
	lost := 0
	for token, s := range sessions {
		res, body := c.do("GET", "/api/auth/session-v2", "", token)
		var got struct {
			Data struct{ N *int }
		}
		json.Unmarshal([]byte(body), &got)
		switch {
		case s.loggedOut && res.StatusCode != 401:
			t.Errorf("a session whose logout answered 204 answers %d after the kill", res.StatusCode)
		case s.loggedOut, s.loggingOut && res.StatusCode == 401:
			continue
		case res.StatusCode != 200:
			t.Errorf("a session whose login answered 200 answers %d after the kill: %s", res.StatusCode, body)
		case s.patched >= 0 && (got.Data.N == nil || *got.Data.N < s.patched):
			t.Errorf("a session whose PATCH n=%d answered 200 holds %s after the kill", s.patched, body)
		default:
			continue
		}
		if lost++; lost >= 10 {
			t.Fatal("10 answered writes lost")
		}
	}
}
