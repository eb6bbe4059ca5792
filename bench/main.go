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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run is the whole command: a server subcommand (the harness starts copies
// of itself as the trivial handler, the proxies, the application and the
// peer), or the benchmark, which writes its report to stdout and its
// progress to stderr.
func run(args []string, stdout io.Writer) (err error) {
	if len(args) > 0 {
		if serve, ok := servers[args[0]]; ok {
			if len(args)-1 != serve.args {
				return fmt.Errorf("%s takes %d arguments", args[0], serve.args)
			}
			return serve.run(args[1:])
		}
	}
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed (apt-get install wrk)")
	}
	// A failure deep in a round (fail, failf, must) ends the run with its
	// error once the deferred calls have stopped every server started.
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			err = f.err
		}
	}()
	b := &bench{out: stdout, pids: map[string]int{}, dir: must(os.MkdirTemp("", "sessiond-bench-*")), wrkArgs: []string{
		"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.conns), "-d", o.duration.String(), "--latency",
	}}
	defer os.RemoveAll(b.dir)
	defer b.stopAll()
	b.build()

	fmt.Fprintf(b.out, "# sessiond benchmark, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(b.out, "machine: %s; GOMAXPROCS of every server: default (%d cores); wrk %s\n\n",
		strings.TrimSpace(string(must(exec.Command("uname", "-srm").Output()))), numCPU(), strings.Join(b.wrkArgs, " "))

	if o.baseline != "" {
		b.buildBaseline(o.baseline)
		fmt.Fprintf(b.out, "baseline: sessiond at %s, measured side by side with the working tree's\n\n", o.baseline)
	}
	if o.pgURL != "" && o.purgeSessions > 0 {
		b.purge(o.pgURL, o.purgeSessions)
	}
	if o.pgURL != "" && o.burstSessions > 0 {
		b.burstPostgres(o.pgURL, o.burstSessions)
	}
	if o.redisURL != "" && o.burstSessions > 0 {
		b.burstRedis(o.redisURL, o.burstSessions)
	}
	if o.pgURL != "" && o.revocations > 0 && !o.skipNodes {
		b.postgres(o.pgURL, o.rounds, o.revocations)
	}
	if o.redisURL != "" && o.redisSessions > 0 {
		b.redisMemory(o.redisURL, o.redisSessions)
	}
	if o.redisURL != "" && !o.skipNodes {
		b.redis(o.redisURL, o.rounds, o.revocations)
	}
	if o.clusterURL != "" && !o.skipNodes {
		b.redisCluster(o.clusterURL, o.rounds, o.revocations)
	}
	if !o.skipSQLite {
		b.validation(o.rounds)
	}
	if !o.skipProxy {
		b.proxies(o.rounds, o.duration)
	}
	if o.sqliteWrites > 0 {
		b.sqliteWrites(o.sqliteWrites, o.sqliteWriters)
	}
	if o.sessions > 0 {
		b.memory(o.sessions)
	}
	if o.loginDuration > 0 {
		b.loginRate(o.loginDuration)
	}
	return nil
}

// options are the benchmark's flags.
type options struct {
	duration                         time.Duration
	conns, threads, rounds, sessions int
	loginDuration                    time.Duration
	pgURL, redisURL, clusterURL      string
	revocations                      int
	skipSQLite, skipProxy, skipNodes bool
	purgeSessions, redisSessions     int
	burstSessions                    int
	baseline                         string
	sqliteWrites                     time.Duration
	sqliteWriters                    int
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of one wrk run")
	fs.IntVar(&o.conns, "connections", 64, "wrk connections")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds per target")
	fs.IntVar(&o.sessions, "sessions", 100_000, "sessions for the memory measurement (0: skip)")
	fs.DurationVar(&o.loginDuration, "login-duration", 10*time.Second, "length of the login-rate run (0: skip)")
	fs.StringVar(&o.pgURL, "postgres", os.Getenv("SESSIOND_BENCH_POSTGRES_URL"), "PostgreSQL URL for the multi-node figures (empty: skip)")
	fs.StringVar(&o.redisURL, "redis", os.Getenv("SESSIOND_BENCH_REDIS_URL"), "Redis URL for the multi-node figures (empty: skip)")
	fs.StringVar(&o.clusterURL, "redis-cluster", os.Getenv("SESSIOND_BENCH_REDIS_CLUSTER_URL"), "Redis Cluster URL for the multi-node figures with shards=16 (empty: skip)")
	fs.IntVar(&o.revocations, "revocations", 1000, "revocations timed between two nodes")
	fs.BoolVar(&o.skipSQLite, "skip-sqlite", false, "skip the SQLite validation rounds")
	fs.BoolVar(&o.skipProxy, "skip-proxy", false, "skip the reverse-proxy latency rounds")
	fs.IntVar(&o.purgeSessions, "purge-sessions", 0, "with -postgres: sessions in the store for the purge figures (0: skip)")
	fs.IntVar(&o.redisSessions, "redis-sessions", 100_000, "with -redis: sessions written to measure Redis memory per session (0: skip)")
	fs.IntVar(&o.burstSessions, "burst-sessions", 0, "with -postgres or -redis: the tenant revoked (and half as many idle sessions purged) while single revocations are timed between two nodes (0: skip)")
	fs.BoolVar(&o.skipNodes, "skip-nodes", false, "skip the multi-node validation and propagation rounds of -postgres, -redis and -redis-cluster")
	fs.DurationVar(&o.sqliteWrites, "sqlite-writes", 20*time.Second, "length of the SQLite mixed-load write round (0: skip)")
	fs.IntVar(&o.sqliteWriters, "sqlite-writers", 16, "PATCH workers in the SQLite mixed-load write round")
	fs.StringVar(&o.baseline, "baseline", "", "a git revision of sessiond to measure side by side with the working tree in the cached rounds (empty: none)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.rounds < 1 {
		return o, errors.New("-rounds must be at least 1")
	}
	if o.duration <= 0 || o.conns < 1 || o.threads < 1 {
		return o, errors.New("-duration, -connections and -threads must be positive")
	}
	if o.sqliteWrites > 0 && o.sqliteWriters < 1 {
		return o, errors.New("-sqlite-writers must be at least 1")
	}
	return o, nil
}

// servers are the subcommands that run one of the harness's own servers
// on the address given last.
var servers = map[string]struct {
	args int
	run  func(args []string) error
}{
	"serve-trivial":   {1, func(a []string) error { return serveTrivial(a[0]) }},
	"serve-answer":    {2, func(a []string) error { return serveAnswer(a[0], a[1]) }},
	"serve-proxy":     {2, func(a []string) error { return serveProxy(a[0], a[1]) }},
	"serve-app":       {1, func(a []string) error { return serveApp(a[0]) }},
	"serve-scs":       {1, func(a []string) error { return serveSCS(a[0]) }},
	"serve-scs-store": {2, func(a []string) error { return serveSCSStore(a[0], a[1]) }},
}

type bench struct {
	out     io.Writer // the report
	dir     string
	wrkArgs []string
	mu      sync.Mutex
	procs   []*exec.Cmd
	pids    map[string]int // the process serving each base URL, under mu
	// baseline is the revision built as baselineBin, "" for none.
	baseline string
}

// failure carries an error out of a round to run, which returns it after
// its deferred calls have stopped the servers.
type failure struct{ err error }

func fail(err error) { panic(failure{err}) }

func failf(format string, args ...any) { fail(fmt.Errorf(format, args...)) }

func must[T any](v T, err error) T {
	if err != nil {
		fail(err)
	}
	return v
}
