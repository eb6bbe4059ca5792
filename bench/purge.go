package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// purge: validation latency (no node cache, every request reads the
// database) in a store of n sessions, idle and while half of them, expired,
// are purged by "sessiond purge" in batches.
func (b *bench) purge(pgURL string, n int) {
	ctx := context.Background()
	schema := "sessiond_purge_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	store := withParam(pgURL, "search_path="+schema)
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		fail(err)
	}
	defer conn.Close(ctx)
	defer conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	st, err := pgstore.Open(ctx, store, pgstore.Options{})
	if err != nil {
		fail(err)
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
		fail(err)
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
		fail(err)
	}
	done := make(chan time.Duration, 1)
	go func() { cmd.Wait(); done <- time.Since(purgeStart) }()
	during := b.wrkWith(args, node+"/api/auth/session-v2")
	took := <-done
	fmt.Fprintf(b.out, "## A store of %d sessions on PostgreSQL, half of them expired\n\n", n)
	fmt.Fprintf(b.out, "Seeded with COPY in %v. Validation with no node cache (every request reads the database), 16 connections with a 2 ms pause:\n\n", seeded.Round(time.Second))
	fmt.Fprintln(b.out, "| | requests/s | p50 ms | p99 ms |")
	fmt.Fprintln(b.out, "|---|---|---|---|")
	fmt.Fprintf(b.out, "| idle | %.0f | %.2f | %.2f |\n", idle.rps, idle.p50, idle.p99)
	fmt.Fprintf(b.out, "| while `sessiond purge` deletes the %d expired sessions | %.0f | %.2f | %.2f |\n\n", n/2, during.rps, during.p50, during.p99)
	fmt.Fprintf(b.out, "The purge took %v (%s); p99 during it is %.2f× the idle p99.\n\n", took.Round(time.Millisecond), strings.TrimSpace(purgeOut.String()), during.p99/idle.p99)
}
