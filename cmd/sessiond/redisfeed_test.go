package main

import (
	"context"
	"encoding/hex"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redistest"
)

// TestTwoNodes_Redis_TheChannelNamesNoSessionUserOrTenant_SEC39 SUBSCRIBEs
// to the nodes' channel, as a client allowed that and nothing else could,
// while a session, a user's sessions and a tenant's sessions are revoked:
// every message is a kind and 32 hex digits, none holds an id, and node A
// still drops each revoked session from its cache.
func TestTwoNodes_Redis_TheChannelNamesNoSessionUserOrTenant_SEC39(t *testing.T) {
	url, prefix := redistest.Prefix(t)
	store := redistest.URL(url, prefix)
	tokenFile := adminTokenFile(t)
	a := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	b := startNode(t, store, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	ca, cb := client{t, a.url}, client{t, b.url}

	o, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := rueidis.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var heard []string
	subscribed := make(chan struct{})
	go sub.Receive(ctx, sub.B().Subscribe().Channel("{"+prefix+"}:changes").Build(), func(m rueidis.PubSubMessage) {
		mu.Lock()
		defer mu.Unlock()
		if heard == nil {
			close(subscribed) // the nodes' probes arrive every 250 ms
		}
		heard = append(heard, m.Message)
	})
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the channel in 10 s: the nodes probe it every 250 ms")
	}

	secrets := revokeThreeWays(t, ca, cb)
	var kinds []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(heard)
		mu.Unlock()
		kinds = kinds[:0]
		for _, m := range got {
			kind, tag, _ := strings.Cut(m, ":")
			if kind == "p" {
				continue // the nodes' probes name nothing
			}
			for _, s := range secrets {
				if strings.Contains(m, s) {
					t.Fatalf("a SUBSCRIBEr read %q on the channel: it names %q", m, s)
				}
			}
			if _, err := hex.DecodeString(tag); err != nil || len(tag) != 32 {
				t.Fatalf("message %q is not a kind and 32 hex digits", m)
			}
			kinds = append(kinds, kind)
		}
		if slices.Contains(kinds, "s") && slices.Contains(kinds, "u") && slices.Contains(kinds, "t") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the revocations, heard changes of kinds %v: want s, u and t", kinds)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTwoNodes_RedisCluster_ANodeCutOffFromTheClusterServesNoRevokedSession_SEC21:
// on a Cluster of the test's own (three masters, three replicas), node A's
// subscription is on a master that then leaves the Cluster (CLUSTER RESET:
// it forgets every other node, keeps its clients and delivers to them
// only what is published on it). A session cached on A and revoked on
// node B is never served by A to a request sent a feed lease or more after
// the revocation answered, for the next five seconds. Before, A's probes
// went to whichever node the client picked, and those that reached the
// cut-off node came back from it: the lease held while every revocation
// was missed.
func TestTwoNodes_RedisCluster_ANodeCutOffFromTheClusterServesNoRevokedSession_SEC21(t *testing.T) {
	set := redistest.StartCluster(t)
	tokenFile := adminTokenFile(t)
	a := startNode(t, set.URL, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	ca := client{t, a.url}
	cli := func(port int, args ...string) string {
		out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(port)}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli -p %d %v: %v %s", port, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	nodes := append(slices.Clone(set.Masters), set.Replicas...)
	// subscribedOn waits for node A's subscription and returns the port
	// of the node that holds it.
	subscribedOn := func() int {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			for _, p := range nodes {
				if cli(p, "client", "list", "type", "pubsub") != "" {
					return p
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("node A has no subscription on any node of the Cluster 10 s after its start")
			}
		}
	}
	// The node to cut off holds none of sessiond's keys (CLUSTER RESET
	// refuses a master with keys; and A's subscription on the master that
	// holds them hears their changes without the bus). Until A's
	// subscription is on one, move it.
	var cut int
	for attempt := 0; ; attempt++ {
		cut = subscribedOn()
		if cli(cut, "dbsize") == "0" {
			break
		}
		if attempt == 50 {
			t.Fatalf("node A's subscription was on the master of sessiond's keys 50 times in a row (%d)", cut)
		}
		// A subscribes again, on a node of its choice.
		cli(cut, "client", "kill", "type", "pubsub")
	}
	// The cut-off master's slots go down with it until its replica takes
	// them over: sessiond's keys are elsewhere, and stay served.
	for _, p := range nodes {
		cli(p, "config", "set", "cluster-require-full-coverage", "no")
	}
	tok, id := ca.adminSession("victim", "t")
	waitCached(t, ca, tok)
	b := startNode(t, set.URL, "--cache-ttl", "1h", "--admin-token-file", tokenFile)
	cb := client{t, b.url}

	if got := cli(cut, "cluster", "reset", "soft"); got != "OK" {
		t.Fatalf("CLUSTER RESET on %d: %s", cut, got)
	}
	if code, body := cb.adminDo("DELETE", "/admin/v1/sessions/"+id, ""); code != 200 && code != 204 {
		t.Fatalf("DELETE /admin/v1/sessions/%s on node B: %d %s", id, code, body)
	}
	revoked := time.Now()
	var refused bool
	for time.Since(revoked) < 5*time.Second {
		start := time.Now()
		code := ca.status(tok)
		switch {
		case code == 200 && start.Sub(revoked) >= sessiond.DefaultFeedLease:
			t.Fatalf("node A served the session revoked on node B %v after the revocation answered (bound: the feed lease, %v); its subscription was on %d, cut off from the Cluster",
				start.Sub(revoked).Round(time.Millisecond), sessiond.DefaultFeedLease, cut)
		case code == 401:
			refused = true
		case code != 200 && code != 503:
			t.Fatalf("node A answered %d for the revoked session", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !refused {
		t.Fatal("node A never refused the revoked session")
	}
	t.Logf("node A's subscription was on %d, cut off; it is now on %d", cut, subscribedOn())
}
