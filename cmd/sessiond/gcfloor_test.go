package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serveArgsEnv holds the arguments (JSON) of the "sessiond serve" that
// TestServeChild runs as a process of its own: the garbage collector is
// the process's, so a test of its settings cannot share the test binary
// with the servers of other tests.
const serveArgsEnv = "SESSIOND_TEST_SERVE_ARGS"

func TestServeChild(t *testing.T) {
	raw := os.Getenv(serveArgsEnv)
	if raw == "" {
		t.Skip("the server of a test that needs a process of its own")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...),
		getenvFrom(nil), strings.NewReader(""), io.Discard, os.Stderr)
	t.Fatalf("serve returned: %v", err)
}

// startChild runs "sessiond serve" with args in a process of its own and
// returns its URL; the process is killed when the test ends.
func startChild(t *testing.T, args ...string) string {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), serveArgsEnv+"="+string(raw))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- "http://" + m[1]
			}
		}
	}()
	select {
	case url := <-addr:
		return url
	case <-time.After(30 * time.Second):
		t.Fatalf("sessiond serve %v did not listen within 30s", args)
		return ""
	}
}

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
// the runtime's pacing. Each login hashes a password with argon2id (19
// MiB): the collections come from them. Seen through /metrics.
func TestServe_TheHeapFloorPacesTheCollector(t *testing.T) {
	const floor = 48 << 20
	dir := t.TempDir()
	withFloor := startChild(t, "--demo", "--store", "sqlite:"+filepath.Join(dir, "a.db"), "--gc-heap-floor", "48MiB")
	without := startChild(t, "--demo", "--store", "sqlite:"+filepath.Join(dir, "b.db"), "--gc-heap-floor", "0")
	login := func(url string) {
		res, err := http.Post(url+"/api/auth/session-v2", "application/json", strings.NewReader(`{"email":"test@example.com","password":"password"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("login on %s: %d", url, res.StatusCode)
		}
	}
	// until logs in on url until ok holds of its collector, after at least
	// three collections since the start of the wait.
	until := func(url, what string, ok func(collector) bool) {
		t.Helper()
		start, first := time.Now(), scrapeCollector(t, url)
		for {
			login(url)
			c := scrapeCollector(t, url)
			if c.cycles >= first.cycles+3 && ok(c) {
				return
			}
			if time.Since(start) > 60*time.Second {
				t.Fatalf("%s: %s after %v of logins on %s (at the start: %s)", what, c, time.Since(start).Round(time.Millisecond), url, first)
			}
		}
	}
	until(withFloor, "--gc-heap-floor 48MiB", func(c collector) bool {
		return c.percent > 100 && c.goal >= floor*0.95
	})
	until(without, "--gc-heap-floor 0", func(c collector) bool {
		return c.percent == 100 && c.goal < floor/2
	})
}
