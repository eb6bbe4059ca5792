package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
)

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
			fail(err)
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
			fail(err)
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
				failf("revocation did not reach node A within 30s")
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
	fmt.Fprintf(b.out, "## Revocation propagation during a burst on %s\n\n", name)
	fmt.Fprintf(b.out, "A tenant of %d sessions and %d idle sessions, seeded through the store in %v. Node B revokes the tenant (`%s` after %v) while `sessiond purge` runs (%s, %v).\n\n",
		n, n/2, seeded.Round(time.Second), tenantAnswer, tenantTook.Round(time.Millisecond), strings.TrimSpace(purgeOut.String()), purgeTook.Round(time.Millisecond))
	fmt.Fprintln(b.out, "| single revocations (created and cached on A, revoked on B, timed to A's first 401) | samples | propagation |")
	fmt.Fprintln(b.out, "|---|---|---|")
	fmt.Fprintf(b.out, "| before the burst | %d | %s |\n", len(idle), pct(idle))
	fmt.Fprintf(b.out, "| during the tenant revocation and the purge | %d | %s |\n\n", len(during), pct(during))
	if failed > 0 {
		fmt.Fprintf(b.out, "%d single revocations could not be made during the burst (a create or a revoke answered other than 201 or 204: the store was blocked).\n\n", failed)
	}
}
