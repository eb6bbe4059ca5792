package testenv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// defaults are the services a test may find on their default ports when
// its variable is unset: a developer's local PostgreSQL and Redis, as
// .ci/run starts them.
var defaults = map[string]struct {
	url, name string
	probe     func() error
}{
	"SESSIOND_TEST_POSTGRES_URL": {"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL", func() error {
		return probePostgres("127.0.0.1:5432", "postgres", "test")
	}},
	"SESSIOND_TEST_REDIS_URL": {"redis://127.0.0.1:6379/0", "Redis", func() error {
		return probeRedis("127.0.0.1:6379")
	}},
}

var probes sync.Map // env → *probeResult, once per test binary

type probeResult struct {
	once sync.Once
	err  error
}

// lookup returns the service URL for env: the variable, else the default
// when it answers; otherwise why there is none.
func lookup(env string) (string, string) {
	if v := os.Getenv(env); v != "" {
		return v, ""
	}
	d, ok := defaults[env]
	if !ok {
		return "", env + " is not set (it has no default)"
	}
	r, _ := probes.LoadOrStore(env, &probeResult{})
	p := r.(*probeResult)
	p.once.Do(func() { p.err = d.probe() })
	if p.err != nil {
		return "", fmt.Sprintf("%s is not set and no %s answers at %s (%v)", env, d.name, redactURL(d.url), p.err)
	}
	return d.url, ""
}

func redactURL(u string) string {
	if i := strings.Index(u, "?"); i >= 0 {
		u = u[:i]
	}
	return u
}

// probePostgres opens a real connection: a startup message as user to
// database, without TLS, and wants authentication to succeed without a
// password (the default URL has none).
func probePostgres(addr, user, database string) error {
	conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	params := "user\x00" + user + "\x00database\x00" + database + "\x00\x00"
	msg := binary.BigEndian.AppendUint32(nil, uint32(8+len(params)))
	msg = binary.BigEndian.AppendUint32(msg, 3<<16) // protocol 3.0
	msg = append(msg, params...)
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	// Authentication comes first; the database is opened after it, so
	// only ReadyForQuery says the connection works.
	r := bufio.NewReader(conn)
	for {
		var head [5]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return fmt.Errorf("no answer to a startup message: %w", err)
		}
		n := int(binary.BigEndian.Uint32(head[1:])) - 4
		if n < 0 || n > 1<<16 {
			return errors.New("not a PostgreSQL answer")
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		switch head[0] {
		case 'R':
			if len(body) < 4 || binary.BigEndian.Uint32(body) != 0 {
				return fmt.Errorf("user %s needs a password", user)
			}
		case 'E':
			for f := range strings.SplitSeq(string(body), "\x00") {
				if strings.HasPrefix(f, "M") {
					return errors.New(f[1:])
				}
			}
			return errors.New("the server refused the connection")
		case 'Z':
			conn.Write([]byte{'X', 0, 0, 0, 4})
			return nil
		}
	}
}

// probeRedis wants +PONG to a PING.
func probeRedis(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no answer to PING: %w", err)
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// skips are the tests this binary skipped through Service and Tool, by
// reason.
var skips struct {
	mu       sync.Mutex
	byReason map[string][]string
	hint     map[string]string
}

func recordSkip(test, reason, hint string) {
	skips.mu.Lock()
	defer skips.mu.Unlock()
	if skips.byReason == nil {
		skips.byReason, skips.hint = map[string][]string{}, map[string]string{}
	}
	if !slices.Contains(skips.byReason[reason], test) {
		skips.byReason[reason] = append(skips.byReason[reason], test)
	}
	skips.hint[reason] = hint
}

// Summary is the one line that says what this test binary skipped for
// want of a service or a tool and how to run it; empty when nothing was.
func Summary() string {
	skips.mu.Lock()
	defer skips.mu.Unlock()
	total := 0
	var reasons []string
	for r, tests := range skips.byReason {
		total += len(tests)
		reasons = append(reasons, r)
	}
	if total == 0 {
		return ""
	}
	sort.Strings(reasons)
	var parts []string
	for _, r := range reasons {
		tests := skips.byReason[r]
		names := strings.Join(tests, ", ")
		if len(tests) > 3 {
			names = strings.Join(tests[:3], ", ") + fmt.Sprintf(" and %d more", len(tests)-3)
		}
		parts = append(parts, fmt.Sprintf("%d: %s (%s; %s)", len(tests), r, skips.hint[r], names))
	}
	plural := "s"
	if total == 1 {
		plural = ""
	}
	return fmt.Sprintf("testenv: skipped %d test%s: %s", total, plural, strings.Join(parts, "; "))
}

// M is what TestMain receives (*testing.M), or goleak's wrapper of it.
type M interface{ Run() int }

// Main runs a package's tests and prints Summary at the end, then exits
// with their status. A package with a TestMain of its own calls Run
// instead (goleak.VerifyTestMain(testenv.Wrap(m))).
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m M) {
	os.Exit(Run(m))
}

// Run runs the tests and prints Summary: on standard output, where
// "go test -v" shows it, and on the terminal when there is one, since
// "go test ./..." shows nothing of a passing package but its "ok" line.
func Run(m M) int {
	code := m.Run()
	printSummary()
	return code
}

func printSummary() {
	if line := Summary(); line != "" {
		fmt.Println(line)
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			pkg, _ := os.Getwd()
			fmt.Fprintf(tty, "%s: %s\n", shortDir(pkg), line)
			tty.Close()
		}
	}
}

// Wrap returns m with Summary printed after its tests, for TestMain
// functions that hand m to another runner such as goleak.
func Wrap(m M) M { return wrapped{m} }

type wrapped struct{ m M }

func (w wrapped) Run() int {
	code := w.m.Run()
	printSummary()
	return code
}

// shortDir names a package directory by its last two elements.
func shortDir(dir string) string {
	parts := strings.Split(dir, string(os.PathSeparator))
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, "/")
}
