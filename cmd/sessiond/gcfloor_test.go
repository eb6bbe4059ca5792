package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// collector is what /metrics says of the Go collector.
type collector struct {
	percent, goal, cycles float64
}

func (c collector) String() string {
	return fmt.Sprintf("GOGC=%.0f, heap goal %.1f MiB, %.0f collections", c.percent, c.goal/(1<<20), c.cycles)
}

func scrapeCollector(t *testing.T, url string) collector {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c collector
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		dst := map[string]*float64{"go_gc_gogc_percent": &c.percent, "go_memstats_next_gc_bytes": &c.goal,
			"go_gc_duration_seconds_count": &c.cycles}[name]
		if dst != nil {
			*dst, _ = strconv.ParseFloat(value, 64)
		}
	}
	return c
}

// TestServe_TheHeapFloorPacesTheCollector: --gc-heap-floor raises GOGC
// after a collection so that the next one starts at the floor; 0 leaves
// the runtime's pacing. The collections come from session GETs (a few KB
// each) on a session made through the admin API, so that no password hash
// holds megabytes live. Seen through /metrics.
func TestServe_TheHeapFloorPacesTheCollector(t *testing.T) {
	const floor = 48 << 20
	dir := t.TempDir()
	tokenFile := adminTokenFile(t)
	withFloor, _ := startChild(t, "--store", "sqlite:"+filepath.Join(dir, "a.db"), "--admin-token-file", tokenFile, "--gc-heap-floor", "48MiB")
	without, _ := startChild(t, "--store", "sqlite:"+filepath.Join(dir, "b.db"), "--admin-token-file", tokenFile, "--gc-heap-floor", "0")
	session := func(url string) string {
		code, out := client{t, url}.adminDo("POST", "/admin/v1/sessions", `{"user_id":"gc-floor"}`)
		var created struct{ Token string }
		if err := json.Unmarshal([]byte(out), &created); err != nil || code != http.StatusCreated {
			t.Fatalf("admin create on %s: %d %s", url, code, out)
		}
		return created.Token
	}
	// load sends 2,000 session GETs to url from 4 clients.
	load := func(url, token string) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 500 {
					req, _ := http.NewRequest("GET", url+"/api/auth/session-v2", nil)
					req.Header.Set("Cookie", "sid="+token)
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						t.Errorf("GET on %s: %d", url, res.StatusCode)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}

	// With the floor: load until a collection has raised GOGC and the
	// goal is the floor.
	token := session(withFloor)
	start, first, rounds := time.Now(), scrapeCollector(t, withFloor), 0
	for {
		load(withFloor, token)
		rounds++
		c := scrapeCollector(t, withFloor)
		if c.cycles > first.cycles && c.percent > 100 && c.goal >= floor*0.95 && c.goal <= floor*1.1 {
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("--gc-heap-floor 48MiB: %s after %d GETs in %v (at the start: %s)", c, 2000*rounds, time.Since(start).Round(time.Millisecond), first)
		}
	}
	// Without it: load until three collections, with GOGC at 100 after
	// each round; then the goal is twice the small live heap.
	token = session(without)
	start, first = time.Now(), scrapeCollector(t, without)
	for i := 1; ; i++ {
		load(without, token)
		c := scrapeCollector(t, without)
		if c.percent != 100 {
			t.Fatalf("--gc-heap-floor 0: %s after %d GETs (at the start: %s)", c, 2000*i, first)
		}
		if c.cycles >= first.cycles+3 {
			if c.goal >= floor/2 {
				t.Fatalf("--gc-heap-floor 0: %s after %d GETs (at the start: %s)", c, 2000*i, first)
			}
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("--gc-heap-floor 0: fewer than 3 collections in %d GETs and %v (%s; at the start: %s)", 2000*i, time.Since(start).Round(time.Millisecond), c, first)
		}
	}
}
