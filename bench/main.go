// Command bench measures sessiond side by side with a trivial net/http
// handler and with a peer (alexedwards/scs on its in-memory store), in one
// run on one machine, with wrk as the load generator. It reports ratios, not
// absolute times: absolute figures say more about the machine than the code.
//
//	cd bench && go run . [-duration 10s] [-connections 64] [-threads 2] [-rounds 3]
//
// Every server runs in its own process with the same GOMAXPROCS; the rounds
// interleave the targets so that drift in the machine's speed hits all alike.
package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"flag"
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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	scspg "github.com/alexedwards/scs/postgresstore"
	scsredis "github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sqlitestore"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "serve-trivial" {
		serveTrivial(os.Args[2])
		return
	}
	if len(os.Args) > 3 && os.Args[1] == "serve-proxy" {
		serveProxy(os.Args[2], os.Args[3])
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "serve-app" {
		serveApp(os.Args[2])
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "serve-scs" {
		serveSCS(os.Args[2])
		return
	}
	if len(os.Args) > 3 && os.Args[1] == "serve-scs-store" {
		serveSCSStore(os.Args[2], os.Args[3])
		return
	}
	duration := flag.Duration("duration", 10*time.Second, "length of one wrk run")
	conns := flag.Int("connections", 64, "wrk connections")
	threads := flag.Int("threads", 2, "wrk threads")
	rounds := flag.Int("rounds", 3, "interleaved rounds per target")
	sessions := flag.Int("sessions", 100_000, "sessions for the memory measurement (0: skip)")
	loginDuration := flag.Duration("login-duration", 10*time.Second, "length of the login-rate run (0: skip)")
	pgURL := flag.String("postgres", os.Getenv("SESSIOND_BENCH_POSTGRES_URL"), "PostgreSQL URL for the multi-node figures (empty: skip)")
	redisURL := flag.String("redis", os.Getenv("SESSIOND_BENCH_REDIS_URL"), "Redis URL for the multi-node figures (empty: skip)")
	clusterURL := flag.String("redis-cluster", os.Getenv("SESSIOND_BENCH_REDIS_CLUSTER_URL"), "Redis Cluster URL for the multi-node figures with shards=16 (empty: skip)")
	revocations := flag.Int("revocations", 1000, "revocations timed between two nodes")
	skipSQLite := flag.Bool("skip-sqlite", false, "skip the SQLite validation rounds")
	skipProxy := flag.Bool("skip-proxy", false, "skip the reverse-proxy latency rounds")
	purgeSessions := flag.Int("purge-sessions", 0, "with -postgres: sessions in the store for the purge figures (0: skip)")
	redisSessions := flag.Int("redis-sessions", 100_000, "with -redis: sessions written to measure Redis memory per session (0: skip)")
	burstSessions := flag.Int("burst-sessions", 0, "with -postgres or -redis: the tenant revoked (and half as many idle sessions purged) while single revocations are timed between two nodes (0: skip)")
	skipNodes := flag.Bool("skip-nodes", false, "skip the multi-node validation and propagation rounds of -postgres, -redis and -redis-cluster")
	flag.Parse()
	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk is not installed (apt-get install wrk)")
	}
	b := &bench{dir: must(os.MkdirTemp("", "sessiond-bench-*")), wrkArgs: []string{
		"-t", strconv.Itoa(*threads), "-c", strconv.Itoa(*conns), "-d", duration.String(), "--latency",
	}}
	defer os.RemoveAll(b.dir)
	defer b.stopAll()
	b.build()

	fmt.Printf("# sessiond benchmark, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("machine: %s; GOMAXPROCS of every server: default (%d cores); wrk %s\n\n",
		strings.TrimSpace(string(must(exec.Command("uname", "-srm").Output()))), numCPU(), strings.Join(b.wrkArgs, " "))

	if *pgURL != "" && *purgeSessions > 0 {
		b.purge(*pgURL, *purgeSessions)
	}
	if *pgURL != "" && *burstSessions > 0 {
		b.burstPostgres(*pgURL, *burstSessions)
	}
	if *redisURL != "" && *burstSessions > 0 {
		b.burstRedis(*redisURL, *burstSessions)
	}
	if *pgURL != "" && *revocations > 0 && !*skipNodes {
		b.postgres(*pgURL, *rounds, *revocations)
	}
	if *redisURL != "" && *redisSessions > 0 {
		b.redisMemory(*redisURL, *redisSessions)
	}
	if *redisURL != "" && !*skipNodes {
		b.redis(*redisURL, *rounds, *revocations)
	}
	if *clusterURL != "" && !*skipNodes {
		b.redisCluster(*clusterURL, *rounds, *revocations)
	}
	if !*skipSQLite {
		b.validation(*rounds)
	}
	if !*skipProxy {
		b.proxies(*rounds, *duration)
	}
	if *sessions > 0 {
		b.memory(*sessions)
	}
	if *loginDuration > 0 {
		b.loginRate(*loginDuration)
	}
}

type bench struct {
	dir     string
	wrkArgs []string
	mu      sync.Mutex
	procs   []*exec.Cmd
}

type target struct {
	name, url, cookie string
}

type result struct {
	rps, p50, p99 float64 // requests/s, milliseconds
	errors        string
}

// validation: GET with a valid session against each target, interleaved.
func (b *bench) validation(rounds int) {
	db := filepath.Join(b.dir, "validate.db")
	trivial := b.start("trivial", b.self(), "serve-trivial")
	peer := b.start("scs", b.self(), "serve-scs")
	cached := b.start("sessiond", b.sessiond(), "serve", "--demo", "--store", "sqlite:"+db, "--log-level", "warn")
	uncached := b.start("sessiond-nocache", b.sessiond(), "serve", "--store", "sqlite:"+db, "--log-level", "warn", "--cache-size", "0")
	proxied := b.start("sessiond-proxy", b.sessiond(), "serve", "--store", "sqlite:"+db, "--log-level", "warn", "--upstream", trivial)
	bare := b.start("bare-proxy", b.self(), "serve-proxy", trivial)

	token := login(cached, "test@example.com", "password")
	peerCookie := scsLogin(peer)
	targets := []target{
		{"trivial handler (reads sid, writes 200)", trivial + "/", "sid=" + token},
		{"sessiond GET /api/auth/session-v2, SQLite, node cache on (default)", cached + "/api/auth/session-v2", "sid=" + token},
		{"sessiond GET /api/auth/session-v2, SQLite, --cache-size 0", uncached + "/api/auth/session-v2", "sid=" + token},
		{"sessiond forward auth GET /auth/verify (nginx auth_request's call)", cached + "/auth/verify", "sid=" + token},
		{"sessiond reverse proxy (--upstream) in front of the trivial handler", proxied + "/", "sid=" + token},
		{"Go's httputil.ReverseProxy alone in front of the trivial handler", bare + "/", "sid=" + token},
		{"peer: scs v2 LoadAndSave + GetString, memstore", peer + "/", peerCookie},
	}
	results := b.measure("saturated", targets, rounds, func(t target) []string {
		return append(slices.Clone(b.wrkArgs), "-H", "Cookie: "+t.cookie)
	})
	fmt.Printf("## Throughput: GET with a valid session, wrk at saturation (%d interleaved rounds, medians)\n\n", rounds)
	fmt.Println("| target | requests/s | p50 ms | p99 ms | req/s vs trivial | p99 vs trivial |")
	fmt.Println("|---|---|---|---|---|---|")
	base := medianOf(results[0])
	for i, t := range targets {
		m := medianOf(results[i])
		fmt.Printf("| %s | %.0f | %.2f | %.2f | %.2f× | %.2f× |\n", t.name, m.rps, m.p50, m.p99, m.rps/base.rps, m.p99/base.p99)
	}
	fmt.Println()

	// Latency at the same offered load. Closed-loop wrk at saturation
	// measures queueing: any handler that costs a few microseconds more gets
	// a p99 several times higher. Here every connection waits 2 ms between
	// requests, so every target sees the same load, well below saturation.
	pace := filepath.Join(b.dir, "pace.lua")
	os.WriteFile(pace, []byte("function delay() return 2 end\n"), 0o644)
	paced := b.measure("paced", targets, rounds, func(t target) []string {
		return append(slices.Clone(b.wrkArgs), "-s", pace, "-H", "Cookie: "+t.cookie)
	})
	fmt.Printf("## Latency at the same offered load (64 connections, 2 ms pause between requests; medians of %d rounds)\n\n", rounds)
	fmt.Println("| target | requests/s | p50 ms | p99 ms | p50 vs trivial | p99 vs trivial |")
	fmt.Println("|---|---|---|---|---|---|")
	pbase := medianOf(paced[0])
	for i, t := range targets {
		m := medianOf(paced[i])
		fmt.Printf("| %s | %.0f | %.2f | %.2f | %.2f× | %.2f× |\n", t.name, m.rps, m.p50, m.p99, m.p50/pbase.p50, m.p99/pbase.p99)
	}
	fmt.Println()
	for i, t := range targets {
		for _, r := range results[i] {
			if r.errors != "" {
				fmt.Printf("warning: %s: %s\n", t.name, r.errors)
			}
		}
	}
}

// proxies: the latency that a proxy hop adds in front of an application
// that works 2 ms per request, for sessiond's reverse proxy and, side by
// side, Go's bare httputil.ReverseProxy and nginx (when installed). Every
// connection pauses 2 ms between requests, so no target is saturated.
func (b *bench) proxies(rounds int, duration time.Duration) {
	db := filepath.Join(b.dir, "proxy.db")
	app := b.start("app", b.self(), "serve-app")
	sd := b.start("sessiond-proxy-app", b.sessiond(), "serve", "--demo", "--store", "sqlite:"+db, "--log-level", "warn", "--upstream", app)
	bare := b.start("bare-proxy-app", b.self(), "serve-proxy", app)
	// The same with the collector's target at 4× the live heap instead of
	// 2× (GOGC=400): a small live heap otherwise means a collection every
	// few milliseconds under load.
	addr := freeAddr()
	cmd := exec.Command(b.sessiond(), "serve", "--store", "sqlite:"+db, "--log-level", "warn", "--upstream", app, "--listen", addr)
	cmd.Env = append(os.Environ(), "GOGC=400")
	sdGC := b.run("sessiond-proxy-app-gogc400", cmd, addr)
	token := login(sd, "test@example.com", "password")
	targets := []target{
		{"the application, direct", app + "/", ""},
		{"Go's httputil.ReverseProxy alone (no session work)", bare + "/", ""},
		{"sessiond --upstream (session validated, identity headers set)", sd + "/", ""},
		{"sessiond --upstream, GOGC=400", sdGC + "/", ""},
	}
	if _, err := exec.LookPath("nginx"); err == nil {
		targets = append(targets, target{"nginx proxy_pass (1 worker, upstream keepalive)", b.nginx(app) + "/", ""})
	} else {
		fmt.Fprintln(os.Stderr, "nginx is not installed: its row is left out")
	}
	pace := filepath.Join(b.dir, "pace-proxy.lua")
	os.WriteFile(pace, []byte("function delay() return 2 end\n"), 0o644)
	fmt.Printf("## Reverse proxy: latency added in front of an application that works 2 ms per request (2 ms pause between requests; medians of %d rounds)\n\n", rounds)
	fmt.Println("| connections | target | requests/s | p50 ms | p99 ms | p50 vs direct | p99 vs direct |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, conns := range []int{1, 16} {
		threads := min(conns, 2)
		results := b.measure(fmt.Sprintf("proxy c=%d", conns), targets, rounds, func(target) []string {
			return []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", duration.String(), "--latency", "-s", pace, "-H", "Cookie: sid=" + token}
		})
		base := medianOf(results[0])
		for i, t := range targets {
			m := medianOf(results[i])
			fmt.Printf("| %d | %s | %.0f | %.2f | %.2f | %.2f× | %.2f× |\n", conns, t.name, m.rps, m.p50, m.p99, m.p50/base.p50, m.p99/base.p99)
		}
	}
	fmt.Println()
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
		log.Fatal(err)
	}
	return b.run("nginx", exec.Command("nginx", "-c", path, "-p", dir), addr)
}

// postgres: validation throughput on PostgreSQL with and without the node
// cache, and how long a revocation on one node takes to reach the other.
func (b *bench) postgres(pgURL string, rounds, revocations int) {
	schema := "sessiond_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	store := withParam(pgURL, "search_path="+schema)
	// The database is shared: the schema goes when the figures are in.
	defer func() {
		conn, err := pgx.Connect(context.Background(), pgURL)
		if err != nil {
			log.Printf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		for _, sc := range []string{schema, schema + "_scs"} {
			if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{sc}.Sanitize()+" CASCADE"); err != nil {
				log.Printf("drop schema %s: %v", sc, err)
			}
		}
	}()
	b.nodes("PostgreSQL", store, "postgres:"+withParam(pgURL, "search_path="+schema+"_scs"), rounds, revocations)
}

// purge: validation latency (no node cache, every request reads the
// database) in a store of n sessions, idle and while half of them, expired,
// are purged by "sessiond purge" in batches.
func (b *bench) purge(pgURL string, n int) {
	ctx := context.Background()
	schema := "sessiond_purge_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	store := withParam(pgURL, "search_path="+schema)
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	defer conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	st, err := pgstore.Open(ctx, store, pgstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	st.Close()
	now := time.Now().UTC()
	start := time.Now()
	rows := make([][]any, 0, n)
	for i := range n {
		id, _ := sessiond.NewID(crand.Reader)
		var h [32]byte
		crand.Read(h[:])
		exp := now.Add(time.Hour)
		if i%2 == 0 {
			exp = now.Add(-time.Hour) // half are expired: the purge's work
		}
		rows = append(rows, []any{id, h[:], fmt.Sprintf("user-%d", i/10), "t", "192.0.2.1", benchAgent,
			now, now, exp, now, nil, int64(0), []string{}})
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{schema, "sessions"}, []string{"id", "token_hash", "user_id", "tenant_id",
		"ip_address", "user_agent", "created_at", "last_activity", "expires_at", "authenticated_at", "data", "version", "flags"},
		pgx.CopyFromRows(rows)); err != nil {
		log.Fatal(err)
	}
	conn.Exec(ctx, "ANALYZE "+pgx.Identifier{schema, "sessions"}.Sanitize())
	seeded := time.Since(start)
	node := b.start("purge-node", b.sessiond(), "serve", "--demo", "--store", store, "--log-level", "warn", "--cache-size", "0")
	token := login(node, "test@example.com", "password")
	pace := filepath.Join(b.dir, "pace-purge.lua")
	os.WriteFile(pace, []byte("function delay() return 2 end\n"), 0o644)
	args := []string{"-t", "2", "-c", "16", "-d", "10s", "--latency", "-s", pace, "-H", "Cookie: sid=" + token, "-H", "User-Agent: " + benchAgent}
	idle := b.wrkWith(args, node+"/api/auth/session-v2")

	cmd := exec.Command(b.sessiond(), "purge", "--store", store, "--log-level", "warn")
	var purgeOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &purgeOut, &purgeOut
	purgeStart := time.Now()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	done := make(chan time.Duration, 1)
	go func() { cmd.Wait(); done <- time.Since(purgeStart) }()
	during := b.wrkWith(args, node+"/api/auth/session-v2")
	took := <-done
	fmt.Printf("## A store of %d sessions on PostgreSQL, half of them expired\n\n", n)
	fmt.Printf("Seeded with COPY in %v. Validation with no node cache (every request reads the database), 16 connections with a 2 ms pause:\n\n", seeded.Round(time.Second))
	fmt.Println("| | requests/s | p50 ms | p99 ms |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| idle | %.0f | %.2f | %.2f |\n", idle.rps, idle.p50, idle.p99)
	fmt.Printf("| while `sessiond purge` deletes the %d expired sessions | %.0f | %.2f | %.2f |\n\n", n/2, during.rps, during.p50, during.p99)
	fmt.Printf("The purge took %v (%s); p99 during it is %.2f× the idle p99.\n\n", took.Round(time.Millisecond), strings.TrimSpace(purgeOut.String()), during.p99/idle.p99)
}

// redis: the same figures on Redis, under a key prefix of the run's own,
// deleted afterwards.
func (b *bench) redis(redisURL string, rounds, revocations int) {
	prefix := "sessiond-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	defer deleteRedisKeys(redisURL, "{"+prefix+"*")
	b.nodes("Redis", withParam(redisURL, "prefix="+prefix), "redis:"+redisURL, rounds, revocations)
}

// redisCluster: the same figures on a Redis Cluster with the sessions
// spread over 16 hash tags. The peer has no Cluster client: no peer row.
func (b *bench) redisCluster(clusterURL string, rounds, revocations int) {
	prefix := "sessiond-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	defer deleteRedisKeys(clusterURL, "{"+prefix+"*")
	b.nodes("Redis Cluster, shards=16", withParam(clusterURL, "prefix="+prefix+"&shards=16"), "", rounds, revocations)
}

// withParam adds a query parameter to a store URL.
func withParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

// deleteRedisKeys deletes the keys matching pattern on every node: the
// servers are shared.
func deleteRedisKeys(url, pattern string) {
	o, err := rueidis.ParseURL(url)
	if err != nil {
		log.Printf("cleanup of %s: %v", pattern, err)
		return
	}
	c, err := rueidis.NewClient(o)
	if err != nil {
		log.Printf("cleanup of %s: %v", pattern, err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				log.Printf("cleanup of %s: %v", pattern, err)
				break
			}
			for _, k := range e.Elements {
				node.Do(ctx, node.B().Del().Key(k).Build())
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
}

// redisMemory writes n sessions, as a login from a browser makes them
// (with a user agent and application data), under a prefix of its own, and
// reports Redis's memory per session: what one shard holds.
func (b *bench) redisMemory(redisURL string, n int) {
	ctx := context.Background()
	prefix := "sessiond-mem-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	st, err := redisstore.Open(ctx, withParam(redisURL, "prefix="+prefix), redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	o, err := rueidis.ParseURL(redisURL)
	if err != nil {
		log.Fatal(err)
	}
	c, err := rueidis.NewClient(o)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	used := func() int64 {
		info, err := c.Do(ctx, c.B().Info().Section("memory").Build()).ToString()
		if err != nil {
			log.Fatal(err)
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		log.Fatal("no used_memory in INFO memory")
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
	fmt.Printf("## Redis memory per session\n\n%d sessions (3 per user, a browser user agent, 45 bytes of data) added %.0f MiB to used_memory: %.0f bytes per session, about %.1f million sessions per GiB of one shard.\n\n",
		n, float64(used()-before)/(1<<20), per, float64(1<<30)/per/1e6)
	deleteRedisKeys(redisURL, "{"+prefix+"*")
}

// nodes measures validation with and without the node cache, and
// revocation propagation between two nodes, on a shared store.
func (b *bench) nodes(name, store, peerStore string, rounds, revocations int) {
	defer b.stopFrom(len(b.procs))
	tokenFile := filepath.Join(b.dir, "admin-token")
	os.WriteFile(tokenFile, []byte("bench-admin-token-0123456789abcdef"), 0o600)
	trivial := b.start("trivial-"+name, b.self(), "serve-trivial")
	a := b.start(name+"-node-a", b.sessiond(), "serve", "--demo", "--store", store, "--log-level", "warn", "--admin-token-file", tokenFile)
	nb := b.start(name+"-node-b", b.sessiond(), "serve", "--store", store, "--log-level", "warn", "--admin-token-file", tokenFile)
	nocache := b.start(name+"-nocache", b.sessiond(), "serve", "--store", store, "--log-level", "warn", "--cache-size", "0")
	token := login(a, "test@example.com", "password")
	targets := []target{
		{"trivial handler", trivial + "/", "sid=" + token},
		{"sessiond GET /api/auth/session-v2, " + name + ", node cache on", a + "/api/auth/session-v2", "sid=" + token},
		{"sessiond GET /api/auth/session-v2, " + name + ", --cache-size 0", nocache + "/api/auth/session-v2", "sid=" + token},
	}
	if peerStore != "" {
		peer := b.start("scs-"+name, b.self(), "serve-scs-store", peerStore)
		targets = slices.Insert(targets, 1, target{"peer: scs v2 LoadAndSave + GetString, its " + name + " store", peer + "/", scsLogin(peer)})
	}
	results := b.measure(name, targets, rounds, func(t target) []string {
		return append(slices.Clone(b.wrkArgs), "-H", "Cookie: "+t.cookie)
	})
	fmt.Printf("## %s: GET with a valid session, wrk at saturation (%d rounds, medians)\n\n", name, rounds)
	fmt.Println("| target | requests/s | p50 ms | p99 ms | req/s vs trivial |")
	fmt.Println("|---|---|---|---|---|")
	base := medianOf(results[0])
	for i, t := range targets {
		m := medianOf(results[i])
		fmt.Printf("| %s | %.0f | %.2f | %.2f | %.2f× |\n", t.name, m.rps, m.p50, m.p99, m.rps/base.rps)
	}
	fmt.Println()

	// Revocation propagation: a session cached on node A is revoked on
	// node B; time until A answers 401.
	var took []time.Duration
	admin, get := adminCall, sessionStatus
	for range revocations {
		_, out := admin("POST", a+"/admin/v1/sessions", `{"user_id":"bench-user"}`)
		var created struct {
			Token   string
			Session struct{ ID string }
		}
		json.Unmarshal(out, &created)
		if get(a, created.Token) != 200 {
			log.Fatal("created session not valid on node A")
		}
		admin("DELETE", nb+"/admin/v1/sessions/"+created.Session.ID, "")
		start := time.Now()
		for get(a, created.Token) != 401 {
			if time.Since(start) > 5*time.Second {
				log.Fatal("revocation did not reach node A within 5s")
			}
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	fmt.Printf("## Revocation propagation between two nodes on %s (%d revocations)\n\n", name, len(took))
	fmt.Printf("Time from the revocation's answer on node B to the first 401 on node A (which had the session cached, TTL 10 s): p50 %v, p99 %v, max %v.\n\n",
		took[len(took)/2].Round(time.Microsecond), took[len(took)*99/100].Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond))

	// Live revocation: a stream held on node A, the session revoked on
	// node B; time from sending the revocation to the revoked event.
	var streamed []time.Duration
	for range revocations {
		_, out := admin("POST", a+"/admin/v1/sessions", `{"user_id":"bench-user"}`)
		var created struct {
			Token   string
			Session struct{ ID string }
		}
		json.Unmarshal(out, &created)
		events := openStream(a, created.Token)
		if e := <-events; e != "ready" {
			log.Fatalf("stream on node A opened with %q", e)
		}
		start := time.Now()
		admin("DELETE", nb+"/admin/v1/sessions/"+created.Session.ID, "")
		select {
		case e := <-events:
			if e != "revoked" {
				log.Fatalf("stream on node A: %q, want revoked", e)
			}
		case <-time.After(5 * time.Second):
			log.Fatal("no revoked event on node A within 5s")
		}
		streamed = append(streamed, time.Since(start))
		for range events {
		}
	}
	slices.Sort(streamed)
	fmt.Printf("Live revocation stream (GET /api/auth/session-v2/stream held on node A, %d revocations on node B): time from sending the revocation to the `revoked` event: p50 %v, p99 %v, max %v.\n\n",
		len(streamed), streamed[len(streamed)/2].Round(time.Microsecond), streamed[len(streamed)*99/100].Round(time.Microsecond), streamed[len(streamed)-1].Round(time.Microsecond))
}

// openStream opens a live-revocation stream and sends its event names on
// the channel, closed when the stream ends.
func openStream(base, token string) <-chan string {
	req, _ := http.NewRequest("GET", base+"/api/auth/session-v2/stream", nil)
	req.Header.Set("Cookie", "sid="+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		log.Fatalf("stream: %v %v", err, res)
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

// burstPostgres and burstRedis run burst on a schema or prefix of their
// own, dropped afterwards.
func (b *bench) burstPostgres(pgURL string, n int) {
	schema := "sessiond_burst_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	defer func() {
		conn, err := pgx.Connect(context.Background(), pgURL)
		if err != nil {
			log.Printf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}()
	store := withParam(pgURL, "search_path="+schema)
	b.burst("PostgreSQL", store, n, func() sessiond.SessionStore {
		st, err := pgstore.Open(context.Background(), store, pgstore.Options{})
		if err != nil {
			log.Fatal(err)
		}
		return st
	})
}

func (b *bench) burstRedis(redisURL string, n int) {
	prefix := "sessiond-burst-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	defer deleteRedisKeys(redisURL, "{"+prefix+"*")
	store := withParam(redisURL, "prefix="+prefix)
	b.burst("Redis", store, n, func() sessiond.SessionStore {
		st, err := redisstore.Open(context.Background(), store, redisstore.Options{})
		if err != nil {
			log.Fatal(err)
		}
		return st
	})
}

// burst: the worst case for the change feed (#16.2). Two nodes share the
// store; it holds a tenant of n sessions and n/2 idle ones (past the idle
// timeout). Node B revokes the tenant (admin API) while "sessiond purge"
// deletes the idle ones; meanwhile one session after another is created
// and cached on node A, revoked on node B, and timed until A answers 401.
func (b *bench) burst(name, store string, n int, open func() sessiond.SessionStore) {
	defer b.stopFrom(len(b.procs))
	tokenFile := filepath.Join(b.dir, "admin-token")
	os.WriteFile(tokenFile, []byte("bench-admin-token-0123456789abcdef"), 0o600)
	// The nodes start once the store is seeded: their own purge, a minute
	// after they start, must not take the idle sessions first.
	st := open()
	seedStart := time.Now()
	now := time.Now().UTC().Truncate(time.Microsecond)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				tenant, last := "big", now
				if i >= n {
					tenant, last = "idle", now.Add(-3*time.Hour)
				}
				id, _ := sessiond.NewID(crand.Reader)
				var h sessiond.TokenHash
				crand.Read(h[:])
				if err := st.CreateSession(context.Background(), &sessiond.Session{ID: id, TokenHash: h, UserID: fmt.Sprintf("%s-user-%d", tenant, i/4),
					TenantID: tenant, IPAddress: "192.0.2.1", UserAgent: benchAgent, CreatedAt: last, LastActivity: last,
					ExpiresAt: now.Add(20 * time.Hour), AuthenticatedAt: last}); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	for i := range n + n/2 {
		work <- i
	}
	close(work)
	wg.Wait()
	seeded := time.Since(seedStart)
	a := b.start(name+"-burst-a", b.sessiond(), "serve", "--store", store, "--log-level", "warn", "--admin-token-file", tokenFile, "--cache-ttl", "1h")
	nb := b.start(name+"-burst-b", b.sessiond(), "serve", "--store", store, "--log-level", "warn", "--admin-token-file", tokenFile, "--cache-ttl", "1h")

	admin, get := adminCall, sessionStatus
	// single times one revocation; ok is false when a step before the
	// timing failed (a 503 while the store is blocked), counted apart.
	single := func(i int) (took time.Duration, ok bool) {
		code, out := admin("POST", a+"/admin/v1/sessions", fmt.Sprintf(`{"user_id":"single-%d","tenant_id":"small"}`, i))
		var created struct {
			Token   string
			Session struct{ ID string }
		}
		json.Unmarshal(out, &created)
		if code != 201 || get(a, created.Token) != 200 {
			return 0, false
		}
		if code, _ := admin("DELETE", nb+"/admin/v1/sessions/"+created.Session.ID, ""); code != 204 {
			return 0, false
		}
		start := time.Now()
		for get(a, created.Token) != 401 {
			if time.Since(start) > 30*time.Second {
				log.Fatal("revocation did not reach node A within 30s")
			}
		}
		return time.Since(start), true
	}
	var idle []time.Duration
	for i := range 200 {
		if d, ok := single(-1 - i); ok {
			idle = append(idle, d)
		}
	}

	var tenantTook, purgeTook time.Duration
	var tenantAnswer string
	var purgeOut bytes.Buffer
	var burst sync.WaitGroup
	burst.Go(func() {
		t0 := time.Now()
		code, out := admin("DELETE", nb+"/admin/v1/tenants/big/sessions", "")
		tenantTook, tenantAnswer = time.Since(t0), fmt.Sprintf("%d %s", code, bytes.TrimSpace(out))
	})
	burst.Go(func() {
		cmd := exec.Command(b.sessiond(), "purge", "--store", store, "--log-level", "error")
		cmd.Stdout, cmd.Stderr = &purgeOut, &purgeOut
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			// Reported, not fatal: a store blocked by a script makes
			// the purge fail, which is part of the figure.
			first, _, _ := strings.Cut(strings.TrimSpace(purgeOut.String()), "\n")
			purgeOut.Reset()
			fmt.Fprintf(&purgeOut, "failed: %v, %.200s", err, first)
		}
		purgeTook = time.Since(t0)
	})
	done := make(chan struct{})
	go func() { burst.Wait(); close(done) }()
	var during []time.Duration
	failed := 0
	for i := 0; ; i++ {
		select {
		case <-done:
		default:
			if d, ok := single(i); ok {
				during = append(during, d)
			} else {
				failed++
			}
			continue
		}
		break
	}
	pct := func(d []time.Duration) string {
		if len(d) == 0 {
			return "no sample"
		}
		slices.Sort(d)
		return fmt.Sprintf("p50 %v, p99 %v, max %v", d[len(d)/2].Round(time.Microsecond), d[len(d)*99/100].Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond))
	}
	fmt.Printf("## Revocation propagation during a burst on %s\n\n", name)
	fmt.Printf("A tenant of %d sessions and %d idle sessions, seeded through the store in %v. Node B revokes the tenant (`%s` after %v) while `sessiond purge` runs (%s, %v).\n\n",
		n, n/2, seeded.Round(time.Second), tenantAnswer, tenantTook.Round(time.Millisecond), strings.TrimSpace(purgeOut.String()), purgeTook.Round(time.Millisecond))
	fmt.Println("| single revocations (created and cached on A, revoked on B, timed to A's first 401) | samples | propagation |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| before the burst | %d | %s |\n", len(idle), pct(idle))
	fmt.Printf("| during the tenant revocation and the purge | %d | %s |\n\n", len(during), pct(during))
	if failed > 0 {
		fmt.Printf("%d single revocations could not be made during the burst (a create or a revoke answered other than 201 or 204: the store was blocked).\n\n", failed)
	}
}

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
	fmt.Printf("## Memory with %d sessions\n\n", n)
	fmt.Printf("- RSS after start, before any request: %.1f MiB\n", float64(idle)/1024)
	fmt.Printf("- RSS after validating all %d sessions once (node cache full): %.1f MiB, %.0f bytes per cached session over the idle figure\n",
		n, float64(full)/1024, float64(full-idle)*1024/float64(n))
	fmt.Printf("- validating them took %v over HTTP with 16 clients; failures: %d\n\n", took.Round(time.Millisecond), failures)
}

// loginRate: POST logins at the default argon2id cost.
func (b *bench) loginRate(d time.Duration) {
	db := filepath.Join(b.dir, "login.db")
	url := b.start("sessiond-login", b.sessiond(), "serve", "--demo", "--store", "sqlite:"+db, "--log-level", "warn")
	script := filepath.Join(b.dir, "login.lua")
	os.WriteFile(script, []byte(`wrk.method = "POST"
wrk.body = '{"email":"test@example.com","password":"password"}'
wrk.headers["Content-Type"] = "application/json"
`), 0o644)
	res := b.wrkWith([]string{"-t", "2", "-c", "4", "-d", d.String(), "--latency", "-s", script}, url+"/api/auth/session-v2")
	fmt.Printf("## Login rate at the default argon2id cost (m=19 MiB, t=2, p=1)\n\n")
	fmt.Printf("- %.1f logins/s with 4 connections; p50 %.1f ms, p99 %.1f ms %s\n\n", res.rps, res.p50, res.p99, res.errors)
}

// measure runs wrk with argsFor(target) against every target, rounds
// times, the targets interleaved within each round so that drift in the
// machine's speed hits them alike; results[i] holds target i's rounds.
func (b *bench) measure(label string, targets []target, rounds int, argsFor func(target) []string) [][]result {
	results := make([][]result, len(targets))
	for r := range rounds {
		for i, t := range targets {
			res := b.wrkWith(argsFor(t), t.url)
			results[i] = append(results[i], res)
			fmt.Fprintf(os.Stderr, "%s round %d %-70s %10.0f req/s p50 %.2fms p99 %.2fms %s\n", label, r+1, t.name, res.rps, res.p50, res.p99, res.errors)
		}
	}
	return results
}

func (b *bench) wrkWith(args []string, url string) result {
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		log.Fatalf("wrk: %v\n%s", err, out)
	}
	return parseWrk(string(out))
}

var (
	rpsRE    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	latRE    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	errorsRE = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$`)
)

func parseWrk(out string) result {
	var r result
	m := rpsRE.FindStringSubmatch(out)
	if m == nil {
		log.Fatalf("cannot parse wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, l := range latRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		switch l[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if l[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	var errs []string
	for _, e := range errorsRE.FindAllStringSubmatch(out, -1) {
		errs = append(errs, e[1])
	}
	r.errors = strings.Join(errs, "; ")
	return r
}

func medianOf(rs []result) result {
	pick := func(f func(result) float64) float64 {
		vs := make([]float64, len(rs))
		for i, r := range rs {
			vs[i] = f(r)
		}
		slices.Sort(vs)
		return vs[len(vs)/2]
	}
	return result{
		rps: pick(func(r result) float64 { return r.rps }),
		p50: pick(func(r result) float64 { return r.p50 }),
		p99: pick(func(r result) float64 { return r.p99 }),
	}
}

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
			log.Fatalf("build in %s: %v", dir, err)
		}
	}
}

func (b *bench) sessiond() string { return filepath.Join(b.dir, "sessiond") }
func (b *bench) self() string     { return filepath.Join(b.dir, "bench") }

// start runs a server on a free loopback port and waits until it answers.
func (b *bench) start(name, bin string, args ...string) string {
	addr := freeAddr()
	if filepath.Base(bin) == "sessiond" {
		args = append(args, "--listen", addr)
	} else {
		args = append(args, addr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = b.dir
	return b.run(name, cmd, addr)
}

// run starts cmd, which will listen on addr, and waits until its /healthz
// answers; stopAll ends it.
func (b *bench) run(name string, cmd *exec.Cmd, addr string) string {
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatalf("start %s: %v", name, err)
	}
	b.mu.Lock()
	b.procs = append(b.procs, cmd)
	b.mu.Unlock()
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(url + "/healthz"); err == nil {
			res.Body.Close()
			return url
		}
	}
	log.Fatalf("%s did not start", name)
	return ""
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

func login(url, email, pw string) string {
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	res, err := http.Post(url+"/api/auth/session-v2", "application/json", bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "sid" {
			return c.Value
		}
	}
	log.Fatalf("login failed: %d", res.StatusCode)
	return ""
}

// seed creates n sessions straight through the engine and returns their
// tokens. It uses synchronous=NORMAL: seeding needs no durability.
func seed(db string, n int) []string {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, db, sqlitestore.Options{Synchronous: "NORMAL"})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	m := sessiond.NewManager(st, sessiond.Config{CacheSize: -1, PurgeInterval: -1})
	defer m.Close()
	tokens := make([]string, n)
	for i := range n {
		token, _, err := m.Create(ctx, sessiond.NewSession{
			UserID:   fmt.Sprintf("user-%d", i/10),
			TenantID: "bench",
			// The address and agent the validating client will present, so
			// that the anomaly policy sees nothing unusual.
			IPAddress: "127.0.0.1",
			UserAgent: benchAgent,
			Data:      json.RawMessage(`{"onboarding_step":"done","theme":"dark"}`),
		})
		if err != nil {
			log.Fatal(err)
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

// serveTrivial is target (a): read the sid cookie, write 200. Behind
// sessiond's reverse proxy it sees X-User-Id instead (sessiond keeps the
// token to itself), and does the same.
func serveTrivial(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err == nil && c.Value != "" || r.Header.Get("X-User-Id") != "" {
			w.Write([]byte("ok"))
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	log.Fatal(http.ListenAndServe(addr, mux))
}

// serveApp stands for a real application: 2 ms of work (waiting on its own
// database, say) per request.
// serveProxy is the reference hop: Go's httputil.ReverseProxy with nothing
// else, configured as sessiond's is (idle connections kept, pooled buffers).
func serveProxy(upstream, addr string) {
	u, err := url.Parse(upstream)
	if err != nil {
		log.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	rp.BufferPool = bufferPool{}
	rp.ErrorLog = log.New(io.Discard, "", 0) // wrk cancels requests at its end
	log.Fatal(http.ListenAndServe(addr, rp))
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

type bufferPool struct{}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

func serveApp(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	log.Fatal(http.ListenAndServe(addr, mux))
}

// serveSCS is the peer: scs v2 with its in-memory store, reading one value
// from the session on every request, as an app checking "who is this" would.
func serveSCS(addr string) {
	sm := scs.New()
	sm.Lifetime = 24 * time.Hour
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "user_id", "u1")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "user_id") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	log.Fatal(http.ListenAndServe(addr, sm.LoadAndSave(mux)))
}

// serveSCSStore is the peer on a shared store: "redis:URL" (scs's
// redisstore on redigo) or "postgres:URL" (scs's postgresstore on pgx's
// database/sql driver, in a table it creates).
func serveSCSStore(store, addr string) {
	sm := scs.New()
	sm.Lifetime = 24 * time.Hour
	switch {
	case strings.HasPrefix(store, "redis:"):
		u := strings.TrimPrefix(store, "redis:")
		pool := &redigo.Pool{MaxIdle: 64, Dial: func() (redigo.Conn, error) { return redigo.DialURL(u) }}
		sm.Store = scsredis.New(pool)
	case strings.HasPrefix(store, "postgres:"):
		u := strings.TrimPrefix(store, "postgres:")
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			log.Fatal(err)
		}
		schema := cfg.RuntimeParams["search_path"]
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(64)
		db.SetMaxIdleConns(64)
		for _, q := range []string{"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize(),
			`CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry)`} {
			if _, err := db.Exec(q); err != nil {
				log.Fatal(err)
			}
		}
		sm.Store = scspg.NewWithCleanupInterval(db, 0)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) { sm.Put(r.Context(), "user_id", "u1") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "user_id") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	log.Fatal(http.ListenAndServe(addr, sm.LoadAndSave(mux)))
}

func scsLogin(url string) string {
	res, err := http.Get(url + "/login")
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "session" {
			return "session=" + c.Value
		}
	}
	log.Fatal(errors.New("scs login set no cookie"))
	return ""
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
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
		log.Fatal(err)
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
		log.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}
