package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// relay is a TCP relay between a sessiond node and its store that counts
// round trips: a round trip is a burst of bytes from the node that follows
// an answer from the store (or opens the connection). Requests the client
// pipelines before the answer to the first arrives count as one, as they
// cost one wait. It reads no protocol, so it counts Redis and PostgreSQL
// alike, and the store being shared with other clients does not blur it.
type relay struct {
	ln     net.Listener
	target string
	trips  atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func startRelay(target string) *relay {
	r := &relay{ln: must(net.Listen("tcp", "127.0.0.1:0")), target: target}
	r.wg.Go(func() {
		for {
			c, err := r.ln.Accept()
			if err != nil {
				return
			}
			r.wg.Go(func() { r.serve(c) })
		}
	})
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) serve(client net.Conn) {
	server, err := net.Dial("tcp", r.target)
	if err != nil {
		client.Close()
		return
	}
	r.mu.Lock()
	r.conns = append(r.conns, client, server)
	r.mu.Unlock()
	// asked: the last bytes seen went from the node to the store.
	var asked atomic.Bool
	pipe := func(dst, src net.Conn, fromNode bool) {
		defer dst.Close()
		defer src.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if fromNode {
					if !asked.Swap(true) {
						r.trips.Add(1)
					}
				} else {
					asked.Store(false)
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { pipe(server, client, true) })
	pipe(client, server, false)
	wg.Wait()
}

// close ends the relay and every connection through it.
func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// relayed returns store, a redis:// or postgres:// URL, with its host
// replaced by the relay's address, and the address it had; ok is false for
// a store the relay cannot stand in front of (a cluster, whose clients
// connect to the nodes the cluster names, or a URL without a host).
func relayed(store string) (target string, rewrite func(addr string) string, ok bool) {
	u, err := url.Parse(store)
	if err != nil || u.Host == "" || u.Query().Has("addr") || strings.Contains(u.Host, ",") {
		return "", nil, false
	}
	target = u.Host
	if u.Port() == "" {
		switch u.Scheme {
		case "redis", "rediss":
			target = net.JoinHostPort(u.Hostname(), "6379")
		case "postgres", "postgresql":
			target = net.JoinHostPort(u.Hostname(), "5432")
		default:
			return "", nil, false
		}
	}
	return target, func(addr string) string {
		v := *u
		v.Host = addr
		return v.String()
	}, true
}

// tripsPerValidation is what storeRoundTrips measured.
type tripsPerValidation struct {
	validations      int
	trips            int64         // during the validations
	took             time.Duration // the validations' time
	idleTrips        int64         // with no request, over idle
	idle             time.Duration
	perValidation    float64 // (trips - background over took) / validations
	backgroundPerSec float64
}

// storeRoundTrips starts a node with the given extra flags whose store
// connections go through a counting relay, and measures the store round
// trips that one validation costs: the node's round trips with no request
// over a few seconds (its background: change-feed probes, purges) and
// during n sequential validations of token, the background over the same
// time subtracted. Sequential requests keep one validation's round trips
// from sharing a burst with another's. The node is stopped afterwards.
func (b *bench) storeRoundTrips(name, store, token string, n int, flags ...string) (tripsPerValidation, error) {
	target, rewrite, ok := relayed(store)
	if !ok {
		return tripsPerValidation{}, errNoRelay
	}
	r := startRelay(target)
	defer r.close()
	defer b.stopFrom(len(b.procs))
	args := append([]string{"serve", "--store", rewrite(r.addr()), "--log-level", "warn"}, flags...)
	node, err := b.tryStart(name+"-counted", b.sessiond(), args...)
	if err != nil {
		return tripsPerValidation{}, err
	}
	client := &http.Client{}
	validate := func() {
		req, _ := http.NewRequest("GET", node+"/api/auth/session-v2", nil)
		req.Header.Set("Cookie", "sid="+token)
		res, err := client.Do(req)
		if err != nil {
			fail(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			failf("%s: validation through the relay answered %d", name, res.StatusCode)
		}
	}
	// Warm up: connections opened, statements prepared, scripts loaded.
	for range 50 {
		validate()
	}
	var m tripsPerValidation
	m.idle = 3 * time.Second
	before := r.trips.Load()
	time.Sleep(m.idle) // a measurement window, not a wait for a condition
	m.idleTrips = r.trips.Load() - before
	m.backgroundPerSec = float64(m.idleTrips) / m.idle.Seconds()

	m.validations = n
	before = r.trips.Load()
	start := time.Now()
	for range n {
		validate()
	}
	m.took = time.Since(start)
	m.trips = r.trips.Load() - before
	m.perValidation = (float64(m.trips) - m.backgroundPerSec*m.took.Seconds()) / float64(n)
	return m, nil
}

// errNoRelay: the relay cannot stand in front of the store.
var errNoRelay = errors.New("the relay cannot stand in front of this store (a cluster's clients connect to the nodes it names)")

func (m tripsPerValidation) String() string {
	per := m.perValidation
	if per > -0.005 && per < 0.005 {
		per = 0 // no "-0.00" when the background estimate is a hair high
	}
	return fmt.Sprintf("%.2f store round trips per validation (%d round trips during %d sequential validations in %v; background %d round trips in %v with no request, %.1f/s, subtracted)",
		per, m.trips, m.validations, m.took.Round(time.Millisecond), m.idleTrips, m.idle, m.backgroundPerSec)
}

// printRoundTrips reports the store round trips per validation on a node
// with no cache and, for comparison, on one with the node cache (the
// store then sees only the batched activity writes).
func (b *bench) printRoundTrips(name, store, token string) {
	const n = 2000
	fmt.Fprintf(b.out, "Store round trips per validation on %s, counted by a TCP relay between a node and the store:\n\n", name)
	for _, c := range []struct {
		label string
		flags []string
	}{
		{"--cache-size 0", []string{"--cache-size", "0"}},
		{"node cache on", nil},
	} {
		m, err := b.storeRoundTrips(name, store, token, n, c.flags...)
		if err != nil {
			fmt.Fprintf(b.out, "- %s: not counted: %v\n", c.label, err)
			continue
		}
		fmt.Fprintf(b.out, "- %s: %s\n", c.label, m)
	}
	fmt.Fprintln(b.out)
}
