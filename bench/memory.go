package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sqlitestore"
)

// memory: the resident size of a server holding n sessions, all of them
// validated once so that the node cache is full.
func (b *bench) memory(n int) {
	db := filepath.Join(b.dir, "memory.db")
	tokens := seed(db, n)
	url := b.start("sessiond-memory", b.sessiond(), "serve", "--store", "sqlite:"+db, "--log-level", "warn")
	pid := b.procs[len(b.procs)-1].Process.Pid
	idle := rssKiB(pid)
	start := time.Now()
	failures := validateAll(url, tokens)
	took := time.Since(start)
	full := rssKiB(pid)
	fmt.Fprintf(b.out, "## Memory with %d sessions\n\n", n)
	fmt.Fprintf(b.out, "- RSS after start, before any request: %.1f MiB\n", float64(idle)/1024)
	fmt.Fprintf(b.out, "- RSS after validating all %d sessions once (node cache full): %.1f MiB, %.0f bytes per cached session over the idle figure\n",
		n, float64(full)/1024, float64(full-idle)*1024/float64(n))
	fmt.Fprintf(b.out, "- validating them took %v over HTTP with 16 clients; failures: %d\n\n", took.Round(time.Millisecond), failures)
}

// seed creates n sessions straight through the engine and returns their
// tokens. It uses synchronous=NORMAL: seeding needs no durability.
func seed(db string, n int) []string {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, db, sqlitestore.Options{Synchronous: "NORMAL"})
	if err != nil {
		fail(err)
	}
	defer st.Close()
	m := sessiond.NewManager(st, sessiond.Config{CacheSize: -1, PurgeInterval: -1})
	defer m.Close()
	tokens := make([]string, n)
	for i := range n {
		token, _, err := m.Create(ctx, sessiond.SessionParams{
			UserID:   fmt.Sprintf("user-%d", i/10),
			TenantID: "bench",
			// The address and agent the validating client will present, so
			// that the anomaly policy sees nothing unusual.
			IPAddress: "127.0.0.1",
			UserAgent: benchAgent,
			Data:      json.RawMessage(`{"onboarding_step":"done","theme":"dark"}`),
		})
		if err != nil {
			fail(err)
		}
		tokens[i] = token
	}
	return tokens
}

const benchAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"

func validateAll(url string, tokens []string) int {
	var failures sync.Map
	var wg sync.WaitGroup
	work := make(chan string)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 16 {
		wg.Go(func() {
			for tok := range work {
				req, _ := http.NewRequest("GET", url+"/api/auth/session-v2", nil)
				req.Header.Set("Cookie", "sid="+tok)
				req.Header.Set("User-Agent", benchAgent)
				res, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				if err != nil || res.StatusCode != 200 {
					failures.Store(tok, true)
				}
			}
		})
	}
	for _, t := range tokens {
		work <- t
	}
	close(work)
	wg.Wait()
	n := 0
	failures.Range(func(_, _ any) bool { n++; return true })
	return n
}

func rssKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

func numCPU() int {
	out, _ := exec.Command("nproc").Output()
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// redisMemory writes n sessions, as a login from a browser makes them
// (with a user agent and application data), under a prefix of its own, and
// reports Redis's memory per session: what one shard holds.
func (b *bench) redisMemory(redisURL string, n int) {
	ctx := context.Background()
	prefix := "sessiond-mem-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	st, err := redisstore.Open(ctx, withParam(redisURL, "prefix="+prefix), redisstore.Options{})
	if err != nil {
		fail(err)
	}
	defer st.Close()
	o, err := rueidis.ParseURL(redisURL)
	if err != nil {
		fail(err)
	}
	c, err := rueidis.NewClient(o)
	if err != nil {
		fail(err)
	}
	defer c.Close()
	used := func() int64 {
		info, err := c.Do(ctx, c.B().Info().Section("memory").Build()).ToString()
		if err != nil {
			fail(err)
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		failf("no used_memory in INFO memory")
		return 0
	}
	before := used()
	now := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				id, _ := sessiond.NewID(crand.Reader)
				tok, _ := sessiond.NewID(crand.Reader)
				sess := &sessiond.Session{ID: id, TokenHash: sessiond.HashToken(tok), UserID: fmt.Sprintf("user-%d", i/3), TenantID: "tenant-1",
					IPAddress: "192.0.2.1", UserAgent: benchAgent, CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(24 * time.Hour),
					AuthenticatedAt: now, Data: json.RawMessage(`{"onboarding":{"step":"profile","done":false}}`)}
				if err := st.CreateSession(ctx, sess); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	per := float64(used()-before) / float64(n)
	fmt.Fprintf(b.out, "## Redis memory per session\n\n%d sessions (3 per user, a browser user agent, 45 bytes of data) added %.0f MiB to used_memory: %.0f bytes per session, about %.1f million sessions per GiB of one shard.\n\n",
		n, float64(used()-before)/(1<<20), per, float64(1<<30)/per/1e6)
	deleteRedisKeys(redisURL, "{"+prefix+"*")
}
