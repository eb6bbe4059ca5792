package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// sqliteWrites: write latency on the SQLite store under mixed load (#15).
// One node (synchronous=FULL, the default) serves cached GETs from wrk
// (16 connections, 2 ms pause: about 6,500 requests/s here), a login and a
// logout every 1/3 s, and PATCHes of the session data from patchers
// workers, each on its own session, pausing 5 ms between requests. Every
// write is timed from request to answer; a write answered is committed.
// All of it comes from one address: the per-client bounds (throttling,
// connections) are lifted.
func (b *bench) sqliteWrites(d time.Duration, patchers int) {
	defer b.stopFrom(len(b.procs))
	db := filepath.Join(b.dir, "writes.db")
	tokenFile := filepath.Join(b.dir, "admin-token")
	os.WriteFile(tokenFile, []byte("bench-admin-token-0123456789abcdef"), 0o600)
	url := b.start("sessiond-writes", b.sessiond(), "serve", "--demo", "--store", "sqlite:"+db, "--log-level", "warn",
		"--admin-token-file", tokenFile, "--throttle-account-attempts", "1000000", "--throttle-address-attempts", "1000000",
		"--max-connections-per-client", "100000")

	tokens := make([]string, patchers)
	for i := range tokens {
		code, out := adminCall("POST", url+"/admin/v1/sessions",
			fmt.Sprintf(`{"user_id":"writer-%d","ip_address":"127.0.0.1","user_agent":%q}`, i, benchAgent))
		var created struct{ Token string }
		json.Unmarshal(out, &created)
		if code != 201 || created.Token == "" {
			failf("create a writer's session: %d %s", code, out)
		}
		tokens[i] = created.Token
	}
	reader := login(url, "test@example.com", "password")

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: patchers + 4}, Timeout: 30 * time.Second}
	// call returns the status, the sid cookie set (if any) and the time
	// from request to answer.
	call := func(method, body, token string) (int, string, time.Duration) {
		req, _ := http.NewRequest(method, url+"/api/auth/session-v2", strings.NewReader(body))
		req.Header.Set("User-Agent", benchAgent)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Cookie", "sid="+token)
		}
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, err.Error(), time.Since(start)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		took := time.Since(start)
		for _, c := range res.Cookies() {
			if c.Name == "sid" && c.MaxAge >= 0 {
				return res.StatusCode, c.Value, took
			}
		}
		return res.StatusCode, "", took
	}

	var (
		mu       sync.Mutex
		samples  = map[string][]time.Duration{}
		failed   = map[string]int{}
		firstErr string
	)
	record := func(kind string, code, want int, took time.Duration, detail string) {
		mu.Lock()
		defer mu.Unlock()
		if code != want {
			failed[kind]++
			if firstErr == "" {
				firstErr = fmt.Sprintf("%s: %d %.200s", kind, code, detail)
			}
			return
		}
		samples[kind] = append(samples[kind], took)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				code, detail, took := call("PATCH", fmt.Sprintf(`{"data":{"n":%d,"writer":%d}}`, n, i), tok)
				record("PATCH", code, 200, took, detail)
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	loginBody, _ := json.Marshal(map[string]string{"email": "test@example.com", "password": "password"})
	wg.Go(func() {
		t := time.NewTicker(time.Second / 3)
		defer t.Stop()
		var loggedIn []string
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			code, tok, took := call("POST", string(loginBody), "")
			record("login", code, 200, took, tok)
			if code == 200 && tok != "" {
				loggedIn = append(loggedIn, tok)
			}
			// Each tick also logs out the session made two ticks ago.
			if len(loggedIn) > 2 {
				code, detail, took := call("DELETE", "", loggedIn[0])
				record("logout", code, 204, took, detail)
				loggedIn = loggedIn[1:]
			}
		}
	})
	pace := filepath.Join(b.dir, "pace-writes.lua")
	os.WriteFile(pace, []byte("function delay() return 2 end\n"), 0o644)
	gets := b.wrkWith([]string{"-t", "2", "-c", "16", "-d", d.String(), "--latency", "-s", pace,
		"-H", "Cookie: sid=" + reader, "-H", "User-Agent: " + benchAgent}, url+"/api/auth/session-v2")
	close(stop)
	wg.Wait()

	fmt.Fprintf(b.out, "## SQLite writes under mixed load (%v; synchronous=FULL)\n\n", d)
	fmt.Fprintf(b.out, "Cached GETs from wrk (16 connections, 2 ms pause): %.0f requests/s, p50 %.2f ms, p99 %.2f ms %s. "+
		"A login and a logout every 1/3 s; %d PATCH workers, each on its own session, 5 ms pause. Write latency, request to answer:\n\n",
		gets.rps, gets.p50, gets.p99, gets.errors, patchers)
	fmt.Fprintln(b.out, "| write | answered | per s | p50 ms | p99 ms | max ms | over 50 ms | over 250 ms | failed |")
	fmt.Fprintln(b.out, "|---|---|---|---|---|---|---|---|---|")
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, kind := range []string{"PATCH", "login", "logout"} {
		s := samples[kind]
		if len(s) == 0 {
			fmt.Fprintf(b.out, "| %s | 0 | | | | | | | %d |\n", kind, failed[kind])
			continue
		}
		slices.Sort(s)
		over := func(limit time.Duration) int {
			i, _ := slices.BinarySearch(s, limit+1)
			return len(s) - i
		}
		fmt.Fprintf(b.out, "| %s | %d | %.0f | %.1f | %.1f | %.1f | %d | %d | %d |\n", kind, len(s), float64(len(s))/d.Seconds(),
			ms(s[len(s)/2]), ms(s[len(s)*99/100]), ms(s[len(s)-1]), over(50*time.Millisecond), over(250*time.Millisecond), failed[kind])
	}
	fmt.Fprintln(b.out)
	if firstErr != "" {
		fmt.Fprintf(b.out, "First failed write: %s\n\n", firstErr)
	}
}
