package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/config"
)

// build compiles sessiond (in its own module, the parent directory) and this
// harness into the work directory.
func (b *bench) build() {
	for dir, out := range map[string]string{"..": b.sessiond(), ".": b.self()} {
		cmd := exec.Command("go", "build", "-o", out, ".")
		if dir == ".." {
			cmd.Args[len(cmd.Args)-1] = "./cmd/sessiond"
		}
		cmd.Dir = dir
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			failf("build in %s: %v", dir, err)
		}
	}
}

func (b *bench) sessiond() string { return filepath.Join(b.dir, "sessiond") }

func (b *bench) self() string { return filepath.Join(b.dir, "bench") }

func (b *bench) baselineBin() string { return filepath.Join(b.dir, "baseline", "sessiond") }

// buildBaseline builds sessiond as it was at rev (git archive of the
// repository, built in a directory of its own) as baselineBin.
func (b *bench) buildBaseline(rev string) {
	src := filepath.Join(b.dir, "baseline-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		fail(err)
	}
	archive := exec.Command("sh", "-c", `git -C .. archive --format=tar "$1" | tar -x -C "$2"`, "sh", rev, src)
	archive.Stderr = os.Stderr
	if err := archive.Run(); err != nil {
		failf("git archive %s: %v", rev, err)
	}
	cmd := exec.Command("go", "build", "-o", b.baselineBin(), "./cmd/sessiond")
	cmd.Dir, cmd.Stderr = src, os.Stderr
	if err := cmd.Run(); err != nil {
		failf("build of %s: %v", rev, err)
	}
	b.baseline = rev
}

// start runs a server on a free loopback port and waits until it answers.
func (b *bench) start(name, bin string, args ...string) string {
	return must(b.tryStart(name, bin, args...))
}

// tryStart is start for a server whose failure to start is reported, not
// fatal.
func (b *bench) tryStart(name, bin string, args ...string) (string, error) {
	addr := freeAddr()
	if filepath.Base(bin) == "sessiond" {
		args = append(args, "--listen", addr)
	} else {
		args = append(args, addr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = b.dir
	return b.tryLaunch(name, cmd, addr)
}

// launch starts cmd, which will listen on addr, and waits until its /healthz
// answers; stopAll ends it.
func (b *bench) launch(name string, cmd *exec.Cmd, addr string) string {
	return must(b.tryLaunch(name, cmd, addr))
}

func (b *bench) tryLaunch(name string, cmd *exec.Cmd, addr string) (string, error) {
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %v", name, err)
	}
	url := "http://" + addr
	b.mu.Lock()
	b.procs = append(b.procs, cmd)
	b.pids[url] = cmd.Process.Pid
	b.mu.Unlock()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(url + "/healthz"); err == nil {
			res.Body.Close()
			return url, nil
		}
	}
	return "", fmt.Errorf("%s did not start", name)
}

func (b *bench) stopAll() { b.stopFrom(0) }

// stopFrom stops the processes started since the first n, so that a round
// can end its nodes before it drops their database schema (a node left
// running would purge a schema that is gone, every minute).
func (b *bench) stopFrom(n int) {
	b.mu.Lock()
	procs := b.procs[n:]
	b.procs = b.procs[:n:n]
	b.mu.Unlock()
	for _, p := range procs {
		p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
		}
	}
}

func freeAddr() string {
	ln := must(net.Listen("tcp", "127.0.0.1:0"))
	defer ln.Close()
	return ln.Addr().String()
}

// login logs in on its own connection, closed after the answer: an idle
// connection left open would count against sessiond's limit of 64
// connections per client address, which wrk's 64 then exceed (wrk counts
// the refused ones as read errors).
func login(url, email, pw string) string {
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	req, _ := http.NewRequest("POST", url+"/api/auth/session-v2", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Close = true
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err)
	}
	defer res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "sid" {
			return c.Value
		}
	}
	failf("login failed: %d", res.StatusCode)
	return ""
}

// adminCall sends an admin API request with the bench's token and returns
// the status and the body.
func adminCall(method, url, body string) (int, []byte) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer bench-admin-token-0123456789abcdef")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// sessionStatus answers the status of GET /api/auth/session-v2 on url with
// the token.
func sessionStatus(url, tok string) int {
	req, _ := http.NewRequest("GET", url+"/api/auth/session-v2", nil)
	req.Header.Set("Cookie", "sid="+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// openStream opens a live-revocation stream and sends its event names on
// the channel, closed when the stream ends.
func openStream(base, token string) <-chan string {
	req, _ := http.NewRequest("GET", base+"/api/auth/session-v2/stream", nil)
	req.Header.Set("Cookie", "sid="+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		failf("stream: %v %v", err, res)
	}
	events := make(chan string, 8)
	go func() {
		defer res.Body.Close()
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- name
			}
		}
	}()
	return events
}

// withParam adds a query parameter to a store URL.
func withParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

// serveTrivial is target (a): read the sid cookie, write 200. Behind
// sessiond's reverse proxy it sees X-User-Id instead (sessiond keeps the
// token to itself), and does the same.
func serveTrivial(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err == nil && c.Value != "" || r.Header.Get("X-User-Id") != "" {
			w.Write([]byte("ok"))
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	return http.ListenAndServe(addr, mux)
}

// serveAnswer is the trivial handler writing a recorded answer of
// sessiond's (recordAnswer): the same headers and body for a request with a
// sid cookie, on a server with sessiond's connection timeouts, so that what
// any production server pays to send that answer (the kernel's copy, wrk's
// parsing, a deadline set for each read and write) is measured apart from
// what sessiond does to make it.
func serveAnswer(file, addr string) error {
	var a recorded
	if err := json.Unmarshal(must(os.ReadFile(file)), &a); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err != nil || c.Value == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h := w.Header()
		for k, v := range a.Header {
			h[k] = v
		}
		w.Write(a.Body)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	srv := &http.Server{Addr: addr, Handler: mux,
		ReadHeaderTimeout: config.HTTPReadHeaderTimeout, ReadTimeout: config.HTTPReadTimeout,
		WriteTimeout: config.HTTPWriteTimeout, IdleTimeout: config.HTTPIdleTimeout}
	return srv.ListenAndServe()
}

// recorded is one answer of sessiond, its headers (but those net/http
// writes itself) and its body.
type recorded struct {
	Header http.Header
	Body   []byte
}

// recordAnswer saves the answer of a GET of url with the cookie to file,
// for serveAnswer.
func recordAnswer(url, cookie, file string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Cookie", cookie)
	req.Close = true // as login's
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err)
	}
	defer res.Body.Close()
	body := must(io.ReadAll(res.Body))
	if res.StatusCode != http.StatusOK {
		failf("recording the answer of %s: %d %s", url, res.StatusCode, body)
	}
	res.Header.Del("Date")
	res.Header.Del("Content-Length")
	if err := os.WriteFile(file, must(json.Marshal(recorded{Header: res.Header, Body: body})), 0o600); err != nil {
		fail(err)
	}
}

// serveProxy is the reference hop: Go's httputil.ReverseProxy with nothing
// else, configured as sessiond's is (idle connections kept, pooled buffers).
func serveProxy(upstream, addr string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	rp.BufferPool = bufferPool{}
	rp.ErrorLog = log.New(io.Discard, "", 0) // wrk cancels requests at its end
	return http.ListenAndServe(addr, rp)
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

type bufferPool struct{}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// serveApp stands for a real application: 2 ms of work (waiting on its own
// database, say) per request.
func serveApp(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	return http.ListenAndServe(addr, mux)
}

// nginx starts nginx as a reverse proxy to upstream, with the settings a
// production configuration would have (HTTP/1.1 and keepalive upstream).
func (b *bench) nginx(upstream string) string {
	dir := must(os.MkdirTemp(b.dir, "nginx-*"))
	addr := freeAddr()
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log stderr error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
  upstream app { server %[2]s; keepalive 64; }
  server {
    listen %[3]s;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`, dir, strings.TrimPrefix(upstream, "http://"), addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		fail(err)
	}
	return b.launch("nginx", exec.Command("nginx", "-c", path, "-p", dir), addr)
}
