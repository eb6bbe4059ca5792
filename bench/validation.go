package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// validation: GET with a valid session against each target, interleaved.
func (b *bench) validation(rounds int) {
	db := filepath.Join(b.dir, "validate.db")
	trivial := b.start("trivial", b.self(), "serve-trivial")
	peer := b.start("scs", b.self(), "serve-scs")
	cached := b.start("sessiond", b.sessiond(), "serve", "--demo", "--store", "sqlite:"+db, "--log-level", "warn")
	uncached := b.start("sessiond-nocache", b.sessiond(), "serve", "--store", "sqlite:"+db, "--log-level", "warn", "--cache-size", "0")
	noFloor := b.start("sessiond-no-floor", b.sessiond(), "serve", "--store", "sqlite:"+db, "--log-level", "warn", "--gc-heap-floor", "0")
	proxied := b.start("sessiond-proxy", b.sessiond(), "serve", "--store", "sqlite:"+db, "--log-level", "warn", "--upstream", trivial)
	bare := b.start("bare-proxy", b.self(), "serve-proxy", trivial)

	token := login(cached, "test@example.com", "password")
	peerCookie := scsLogin(peer)
	answerFile := filepath.Join(b.dir, "answer.json")
	recordAnswer(cached+"/api/auth/session-v2", "sid="+token, answerFile)
	answer := b.start("trivial-answer", b.self(), "serve-answer", answerFile)
	verifyFile := filepath.Join(b.dir, "verify-answer.json")
	recordAnswer(cached+"/auth/verify", "sid="+token, verifyFile)
	verifyAnswer := b.start("trivial-verify-answer", b.self(), "serve-answer", verifyFile)
	targets := []target{
		{"trivial handler (reads sid, writes 200)", trivial + "/", "sid=" + token},
		{"trivial handler writing sessiond's answer (its headers and body, recorded; sessiond's connection timeouts)", answer + "/", "sid=" + token},
		{"sessiond GET /api/auth/session-v2, SQLite, node cache on (default)", cached + "/api/auth/session-v2", "sid=" + token},
		{"sessiond GET /api/auth/session-v2, SQLite, node cache on, --gc-heap-floor 0 (the runtime's pacing)", noFloor + "/api/auth/session-v2", "sid=" + token},
		{"sessiond GET /api/auth/session-v2, SQLite, --cache-size 0", uncached + "/api/auth/session-v2", "sid=" + token},
		{"trivial handler writing forward auth's answer (its headers, recorded; sessiond's connection timeouts)", verifyAnswer + "/", "sid=" + token},
		{"sessiond forward auth GET /auth/verify (nginx auth_request's call)", cached + "/auth/verify", "sid=" + token},
		{"sessiond reverse proxy (--upstream) in front of the trivial handler", proxied + "/", "sid=" + token},
		{"Go's httputil.ReverseProxy alone in front of the trivial handler", bare + "/", "sid=" + token},
		{"peer: scs v2 LoadAndSave + GetString, memstore", peer + "/", peerCookie},
	}
	if b.baseline != "" {
		// The baseline on a database of its own: its schema may differ.
		old := b.start("sessiond-baseline", b.baselineBin(), "serve", "--demo", "--store", "sqlite:"+filepath.Join(b.dir, "validate-baseline.db"), "--log-level", "warn")
		oldToken := login(old, "test@example.com", "password")
		targets = append(targets,
			target{"sessiond at " + b.baseline + " GET /api/auth/session-v2, SQLite, node cache on", old + "/api/auth/session-v2", "sid=" + oldToken},
			target{"sessiond at " + b.baseline + " forward auth GET /auth/verify", old + "/auth/verify", "sid=" + oldToken})
	}
	results, closing := b.against("saturated", targets, rounds, func(t target) []string {
		return append(slices.Clone(b.wrkArgs), "-H", "Cookie: "+t.cookie)
	})
	fmt.Fprintf(b.out, "## Throughput: GET with a valid session, wrk at saturation (%d interleaved rounds, medians)\n\n", rounds)
	fmt.Fprintln(b.out, "| target | requests/s | p50 ms | p99 ms | req/s vs trivial, round by round: median (range) | p99 vs trivial | server CPU µs/request |")
	fmt.Fprintln(b.out, "|---|---|---|---|---|---|---|")
	base := medianOf(results[0])
	for i, t := range targets {
		m := medianOf(results[i])
		fmt.Fprintf(b.out, "| %s | %.0f | %.2f | %.2f | %s | %.2f× | %.1f |\n", t.name, m.rps, m.p50, m.p99, ratioOf(results[i]), m.p99/base.p99, m.cpu)
	}
	fmt.Fprintln(b.out)
	b.printDrift(targets[0], results[0], closing)
	fmt.Fprintln(b.out, "The p99 ratios are of the medians, against the reference's opening runs.")
	fmt.Fprintln(b.out)
	fmt.Fprintln(b.out, "Store round trips per validation on SQLite: not counted (the store is in the process: no connection for the relay to count; the PostgreSQL and Redis rounds count theirs).")
	fmt.Fprintln(b.out)

	// Latency at the same offered load. Closed-loop wrk at saturation
	// measures queueing: any handler that costs a few microseconds more gets
	// a p99 several times higher. Here every connection waits 2 ms between
	// requests, so every target sees the same load, well below saturation.
	pace := filepath.Join(b.dir, "pace.lua")
	os.WriteFile(pace, []byte("function delay() return 2 end\n"), 0o644)
	paced := b.measure("paced", targets, rounds, func(t target) []string {
		return append(slices.Clone(b.wrkArgs), "-s", pace, "-H", "Cookie: "+t.cookie)
	})
	fmt.Fprintf(b.out, "## Latency at the same offered load (64 connections, 2 ms pause between requests; medians of %d rounds)\n\n", rounds)
	fmt.Fprintln(b.out, "| target | requests/s | p50 ms | p99 ms | p50 vs trivial | p99 vs trivial |")
	fmt.Fprintln(b.out, "|---|---|---|---|---|---|")
	pbase := medianOf(paced[0])
	for i, t := range targets {
		m := medianOf(paced[i])
		fmt.Fprintf(b.out, "| %s | %.0f | %.2f | %.2f | %.2f× | %.2f× |\n", t.name, m.rps, m.p50, m.p99, m.p50/pbase.p50, m.p99/pbase.p99)
	}
	fmt.Fprintln(b.out)
	b.warnErrors(targets, results)
}

// warnErrors reports the runs in which wrk saw errors (refused or reset
// connections, answers other than 2xx and 3xx): their figures are suspect.
func (b *bench) warnErrors(targets []target, results [][]result) {
	for i, t := range targets {
		for _, r := range results[i] {
			if r.errors != "" {
				fmt.Fprintf(b.out, "warning: %s: %s\n", t.name, r.errors)
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
	// The same with the Go runtime's own collector pacing (no heap
	// floor): what the floor buys, side by side.
	sdGC := b.start("sessiond-proxy-app-no-floor", b.sessiond(), "serve", "--store", "sqlite:"+db, "--log-level", "warn", "--upstream", app, "--gc-heap-floor", "0")
	token := login(sd, "test@example.com", "password")
	targets := []target{
		{"the application, direct", app + "/", ""},
		{"Go's httputil.ReverseProxy alone (no session work)", bare + "/", ""},
		{"sessiond --upstream (session validated, identity headers set)", sd + "/", ""},
		{"sessiond --upstream, --gc-heap-floor 0 (the runtime's pacing)", sdGC + "/", ""},
	}
	if _, err := exec.LookPath("nginx"); err == nil {
		targets = append(targets, target{"nginx proxy_pass (1 worker, upstream keepalive)", b.nginx(app) + "/", ""})
	} else {
		fmt.Fprintln(os.Stderr, "nginx is not installed: its row is left out")
	}
	pace := filepath.Join(b.dir, "pace-proxy.lua")
	os.WriteFile(pace, []byte("function delay() return 2 end\n"), 0o644)
	fmt.Fprintf(b.out, "## Reverse proxy: latency added in front of an application that works 2 ms per request (2 ms pause between requests; medians of %d rounds)\n\n", rounds)
	fmt.Fprintln(b.out, "| connections | target | requests/s | p50 ms | p99 ms | p50 vs direct | p99 vs direct |")
	fmt.Fprintln(b.out, "|---|---|---|---|---|---|---|")
	for _, conns := range []int{1, 16} {
		threads := min(conns, 2)
		results := b.measure(fmt.Sprintf("proxy c=%d", conns), targets, rounds, func(target) []string {
			return []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", duration.String(), "--latency", "-s", pace, "-H", "Cookie: sid=" + token}
		})
		base := medianOf(results[0])
		for i, t := range targets {
			m := medianOf(results[i])
			fmt.Fprintf(b.out, "| %d | %s | %.0f | %.2f | %.2f | %.2f× | %.2f× |\n", conns, t.name, m.rps, m.p50, m.p99, m.p50/base.p50, m.p99/base.p99)
		}
	}
	fmt.Fprintln(b.out)
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
	fmt.Fprintf(b.out, "## Login rate at the default argon2id cost (m=19 MiB, t=2, p=1)\n\n")
	fmt.Fprintf(b.out, "- %.1f logins/s with 4 connections; p50 %.1f ms, p99 %.1f ms %s\n\n", res.rps, res.p50, res.p99, res.errors)
}
