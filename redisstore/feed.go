package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// announce publishes a change that concerns many sessions at once.
func (s *Store) announce(ctx context.Context, c sessiond.Change) error {
	return translate(s.c.Do(ctx, s.c.B().Publish().Channel(s.events).Message(s.conceal(c)).Build()).Error())
}

// ConcealChange implements sessiond.ChangeConcealer with the key stored
// at {prefix}:feedkey, which only clients that may read sessiond's keys
// can read: a client allowed to SUBSCRIBE to the channel and nothing else
// learns that something changed, not what (SEC-39).
func (s *Store) ConcealChange(c sessiond.Change) sessiond.Change {
	return sessiond.ConcealChange(s.feedKey, c)
}

// conceal is the message that announces c.
func (s *Store) conceal(c sessiond.Change) string { return s.ConcealChange(c).String() }

// loadFeedKey reads the feed's key, drawing it at the deployment's first
// start: 32 random bytes, in hex, set only if absent so that every node
// reads the same one.
func (s *Store) loadFeedKey(ctx context.Context) error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	key := s.k("feedkey")
	if err := s.c.Do(ctx, s.c.B().Set().Key(key).Value(hex.EncodeToString(b[:])).Nx().Build()).Error(); err != nil && !rueidis.IsRedisNil(err) {
		return translate(err)
	}
	v, err := s.c.Do(ctx, s.c.B().Get().Key(key).Build()).ToString()
	if err != nil {
		return translate(err)
	}
	k, err := hex.DecodeString(v)
	if err != nil || len(k) < 16 {
		return fmt.Errorf("redisstore: %s does not hold a feed key", key)
	}
	s.feedKey = k
	return nil
}

// WatchChanges implements sessiond.ChangeWatcher with SUBSCRIBE on a
// dedicated connection.
//
// Through Sentinel, that connection stays with the server it was opened to.
// After a failover the old master may stay up, cut off from the new one's
// PUBLISH messages until it is turned into a replica and has resynced, and
// the subscription would miss revocations without failing. So the watch
// ends as soon as the client follows a new master: the node flushes its
// cache and subscribes again, on the new master.
//
// On a Cluster, the subscription is on one node, chosen among those that
// report cluster_state:ok, and a PUBLISH on another master reaches it
// through the cluster bus. A node cut off from the bus keeps its
// subscribers and delivers what is published on it alone, so the watch
// ends as soon as that node stops reporting cluster_state:ok (it does at
// once when it was reset, within the cluster's node timeout when it lost
// the majority), and the node subscribes again elsewhere. A node cut off
// in one direction only may never notice: the probes cover that case (see
// ProbeFeed), and so does the stall check below.
//
// In every mode, a watch through which none of this store's probes has
// come back for feedStall while they were being sent ends too: the
// subscription is silent, whatever the reason, and subscribing again is
// the remedy (the node's feed lease has turned its cache off meanwhile).
func (s *Store) WatchChanges(ctx context.Context, connected func(), onChange func(sessiond.Change)) error {
	master := s.master()
	var dc rueidis.DedicatedClient
	var cancel func()
	var node rueidis.Client // on a Cluster: the node subscribed to
	var nodeAddr string
	if s.cluster {
		nodeAddr, node = s.subscriptionNode(ctx)
		if node == nil {
			return translate(errors.New("no node of the Cluster reports cluster_state:ok"))
		}
		dc, cancel = node.Dedicate()
	} else {
		dc, cancel = s.c.Dedicate()
	}
	defer cancel()
	s.probes.watching()
	wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) {
			c, ok := sessiond.ParseChange(m.Message)
			if !ok {
				return
			}
			if c.Probe != "" {
				var done bool
				if c.Probe, done = s.probes.arrived(c.Probe); !done {
					return // a probe waiting for its other parts
				}
			}
			onChange(c)
		},
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			if sub.Kind == "subscribe" {
				connected()
			}
		},
	})
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(s.events).Build()).Error(); err != nil {
		return translate(err)
	}
	t := time.NewTicker(masterCheckInterval)
	defer t.Stop()
	for {
		select {
		case err := <-wait:
			if err == nil {
				err = errors.New("redisstore: subscription closed")
			}
			return translate(err)
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if s.sentinel {
				if now := s.master(); now != master {
					return translate(fmt.Errorf("redisstore: the master moved from %s to %s; subscribing again", master, now))
				}
			}
			if node != nil {
				if state, err := clusterState(ctx, node); err != nil || state != "ok" {
					s.avoid.Store(nodeAddr)
					return translate(fmt.Errorf("redisstore: the Cluster node %s that the feed subscribed to reports cluster_state:%s (%v); subscribing again on another", nodeAddr, state, err))
				}
			}
			if since := s.probes.stalled(time.Now()); since > feedStall {
				s.avoid.Store(nodeAddr)
				return translate(fmt.Errorf("redisstore: no probe came back through the subscription for %v; subscribing again", since.Round(time.Millisecond)))
			}
		}
	}
}

// feedStall is how long a watch may go without any of this store's probes
// coming back, while they are being sent, before it subscribes again.
// Several feed leases: a probe delayed by a loaded machine is not a dead
// subscription.
const feedStall = 5 * time.Second

// subscriptionNode picks a node of the Cluster for the subscription: one
// that reports cluster_state:ok, other than the one the last watch left if
// another will do.
func (s *Store) subscriptionNode(ctx context.Context) (string, rueidis.Client) {
	avoid, _ := s.avoid.Load().(string)
	var fallback string
	nodes := s.c.Nodes()
	for addr, node := range nodes { // in random order
		if state, err := clusterState(ctx, node); err != nil || state != "ok" {
			continue
		}
		if addr != avoid {
			return addr, node
		}
		fallback = addr
	}
	if fallback != "" {
		return fallback, nodes[fallback]
	}
	return "", nil
}

// clusterState is what node answers for cluster_state in CLUSTER INFO.
func clusterState(ctx context.Context, node rueidis.Client) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	info, err := node.Do(ctx, node.B().ClusterInfo().Build()).ToString()
	if err != nil {
		return "", err
	}
	// RESP3 answers a verbatim string: "txt:" and the text.
	for line := range strings.Lines(strings.TrimPrefix(info, "txt:")) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_state:"); ok {
			return v, nil
		}
	}
	return "", errors.New("no cluster_state in CLUSTER INFO")
}

// ProbeFeed implements sessiond.FeedProber: the probe is published on the
// channel that WatchChanges subscribes to, after every change published
// before it.
//
// On a Cluster it is published where the changes are: by a script on the
// master that holds the sessions' hash tag (with Shards > 1, on each
// part's, as "p:<probe>/<part>", and the watch reports the probe once it
// came back from every part). So a probe comes back only along the paths
// the changes take: through the cluster bus to a subscription on another
// node, or on the master itself, the one the client writes to now. A probe
// published on whichever node the client picks could come back from the
// subscription's own node while that node hears nothing else, keeping the
// lease of a feed that misses every revocation (#16.6).
func (s *Store) ProbeFeed(ctx context.Context, probe string) error {
	s.probes.sent(probe, time.Now())
	msg := sessiond.Change{Probe: probe}.String()
	if !s.cluster {
		return translate(s.c.Do(ctx, s.c.B().Publish().Channel(s.events).Message(msg).Build()).Error())
	}
	parts := s.parts()
	if len(parts) == 1 {
		return translate(probeScript.Exec(ctx, s.c, []string{parts[0]}, []string{s.events, msg}).Error())
	}
	execs := make([]rueidis.LuaExec, len(parts))
	for i, bp := range parts {
		execs[i] = rueidis.LuaExec{Keys: []string{bp}, Args: []string{s.events, msg + "/" + strconv.Itoa(i)}}
	}
	for _, r := range probeScript.ExecMulti(ctx, s.c, execs...) {
		if err := r.Error(); err != nil {
			return translate(err)
		}
	}
	return nil
}

// masterCheckInterval is how often a watch checks that the master it
// subscribed on (through Sentinel) or the Cluster node it subscribed to is
// still the right one: the longest a failover or a node cut off from the
// Cluster leaves a node's cache unflushed.
const masterCheckInterval = 100 * time.Millisecond

// master is the address the client sends writes to (through Sentinel, the
// current master).
func (s *Store) master() string {
	for addr := range s.c.Nodes() {
		return addr
	}
	return ""
}

// probeState follows this store's probes: which came back through the
// watch, and, on a Cluster with Shards > 1, which parts of each probe did.
type probeState struct {
	parts int // parts a probe comes back from: 1, or the shards on a Cluster

	mu       sync.Mutex
	own      map[string]time.Time // probes sent by this store, by nonce
	order    []string             // own, oldest first
	pending  time.Time            // the first probe sent since one came back
	partial  map[string][]bool    // parts seen, by nonce
	partials []string             // partial, oldest first
}

// maxProbes bounds the probes remembered (own, and partial ones: junk on
// the channel must not grow them).
const maxProbes = 1024

func (p *probeState) sent(probe string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.own == nil {
		p.own = map[string]time.Time{}
	}
	p.own[probe] = at
	p.order = append(p.order, probe)
	if len(p.order) > maxProbes {
		delete(p.own, p.order[0])
		p.order = p.order[1:]
	}
	if p.pending.IsZero() {
		p.pending = at
	}
}

// watching starts a watch: the stall is counted from its first probe.
func (p *probeState) watching() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = time.Time{}
	clear(p.partial)
	p.partials = nil
}

// arrived records a probe message and returns the probe to report and
// whether it is complete: with parts, "<nonce>/<part>" completes once
// every part came.
func (p *probeState) arrived(msg string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	probe := msg
	if p.parts > 1 {
		nonce, part, ok := cutLast(msg, "/")
		i, err := strconv.Atoi(part)
		if !ok || err != nil || i < 0 || i >= p.parts {
			return "", false
		}
		if p.partial == nil {
			p.partial = map[string][]bool{}
		}
		seen := p.partial[nonce]
		if seen == nil {
			seen = make([]bool, p.parts)
			p.partial[nonce] = seen
			p.partials = append(p.partials, nonce)
			if len(p.partials) > maxProbes {
				delete(p.partial, p.partials[0])
				p.partials = p.partials[1:]
			}
		}
		seen[i] = true
		for _, ok := range seen {
			if !ok {
				return "", false
			}
		}
		delete(p.partial, nonce)
		probe = nonce
	}
	if _, ok := p.own[probe]; ok {
		p.pending = time.Time{}
	}
	return probe, true
}

// stalled returns how long the first probe since the last that came back
// has been out, or 0.
func (p *probeState) stalled(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending.IsZero() {
		return 0
	}
	return now.Sub(p.pending)
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
