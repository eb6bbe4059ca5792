package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"
)

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
		for _, sc := range []string{schema, schema + "_scs", schema + "_base"} {
			if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{sc}.Sanitize()+" CASCADE"); err != nil {
				log.Printf("drop schema %s: %v", sc, err)
			}
		}
	}()
	b.nodes("PostgreSQL", store, "postgres:"+withParam(pgURL, "search_path="+schema+"_scs"), withParam(pgURL, "search_path="+schema+"_base"), rounds, revocations)
}

// redis: the same figures on Redis, under a key prefix of the run's own,
// deleted afterwards.
func (b *bench) redis(redisURL string, rounds, revocations int) {
	prefix := "sessiond-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	defer deleteRedisKeys(redisURL, "{"+prefix+"*")
	b.nodes("Redis", withParam(redisURL, "prefix="+prefix), "redis:"+redisURL, withParam(redisURL, "prefix="+prefix+"-base"), rounds, revocations)
}

// redisCluster: the same figures on a Redis Cluster with the sessions
// spread over 16 hash tags. The peer has no Cluster client: no peer row.
func (b *bench) redisCluster(clusterURL string, rounds, revocations int) {
	prefix := "sessiond-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	defer deleteRedisKeys(clusterURL, "{"+prefix+"*")
	b.nodes("Redis Cluster, shards=16", withParam(clusterURL, "prefix="+prefix+"&shards=16"), "", "", rounds, revocations)
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

// nodes measures validation with and without the node cache, and
// revocation propagation between two nodes, on a shared store. With a
// baseline (and baselineStore, a schema or prefix of its own, since the
// baseline's layout may differ), the baseline's cached node runs beside.
func (b *bench) nodes(name, store, peerStore, baselineStore string, rounds, revocations int) {
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
	// The peer and the baseline stop once measured: the store's
	// connections are shared (PostgreSQL's max_connections).
	extras := len(b.procs)
	if peerStore != "" {
		peer := b.start("scs-"+name, b.self(), "serve-scs-store", peerStore)
		targets = slices.Insert(targets, 1, target{"peer: scs v2 LoadAndSave + GetString, its " + name + " store", peer + "/", scsLogin(peer)})
	}
	if b.baseline != "" && baselineStore != "" {
		old := b.start(name+"-baseline", b.baselineBin(), "serve", "--demo", "--store", baselineStore, "--log-level", "warn")
		targets = append(targets, target{"sessiond at " + b.baseline + " GET /api/auth/session-v2, " + name + ", node cache on", old + "/api/auth/session-v2", "sid=" + login(old, "test@example.com", "password")})
	}
	results, closing := b.against(name, targets, rounds, func(t target) []string {
		return append(slices.Clone(b.wrkArgs), "-H", "Cookie: "+t.cookie)
	})
	fmt.Fprintf(b.out, "## %s: GET with a valid session, wrk at saturation (%d rounds, medians)\n\n", name, rounds)
	fmt.Fprintln(b.out, "| target | requests/s | p50 ms | p99 ms | req/s vs trivial, round by round: median (range) | server CPU µs/request |")
	fmt.Fprintln(b.out, "|---|---|---|---|---|---|")
	for i, t := range targets {
		m := medianOf(results[i])
		fmt.Fprintf(b.out, "| %s | %.0f | %.2f | %.2f | %s | %.1f |\n", t.name, m.rps, m.p50, m.p99, ratioOf(results[i]), m.cpu)
	}
	fmt.Fprintln(b.out)
	b.printDrift(targets[0], results[0], closing)
	b.warnErrors(targets, results)
	b.stopFrom(extras)
	b.printRoundTrips(name, store, token)

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
			failf("created session not valid on node A")
		}
		admin("DELETE", nb+"/admin/v1/sessions/"+created.Session.ID, "")
		start := time.Now()
		for get(a, created.Token) != 401 {
			if time.Since(start) > 5*time.Second {
				failf("revocation did not reach node A within 5s")
			}
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	fmt.Fprintf(b.out, "## Revocation propagation between two nodes on %s (%d revocations)\n\n", name, len(took))
	fmt.Fprintf(b.out, "Time from the revocation's answer on node B to the first 401 on node A (which had the session cached, TTL 10 s): p50 %v, p99 %v, max %v.\n\n",
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
			failf("stream on node A opened with %q", e)
		}
		start := time.Now()
		admin("DELETE", nb+"/admin/v1/sessions/"+created.Session.ID, "")
		select {
		case e := <-events:
			if e != "revoked" {
				failf("stream on node A: %q, want revoked", e)
			}
		case <-time.After(5 * time.Second):
			failf("no revoked event on node A within 5s")
		}
		streamed = append(streamed, time.Since(start))
		for range events {
		}
	}
	slices.Sort(streamed)
	fmt.Fprintf(b.out, "Live revocation stream (GET /api/auth/session-v2/stream held on node A, %d revocations on node B): time from sending the revocation to the `revoked` event: p50 %v, p99 %v, max %v.\n\n",
		len(streamed), streamed[len(streamed)/2].Round(time.Microsecond), streamed[len(streamed)*99/100].Round(time.Microsecond), streamed[len(streamed)-1].Round(time.Microsecond))
}
