package sessiond

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// prober sends probes through a store's change feed and recognises its own
// when they come back, so that the cache can tell a live feed from one that
// died without its watcher noticing. Probes of other nodes on the same feed
// are ignored: a probe is "<node>.<sequence>", the node part random.
type prober struct {
	store FeedProber
	lease time.Duration
	node  string

	mu   sync.Mutex
	seq  uint64
	sent map[uint64]time.Time
}

func newProber(store FeedProber, lease time.Duration, rand io.Reader) *prober {
	b := make([]byte, 8)
	if _, err := io.ReadFull(rand, b); err != nil {
		// Uniqueness between nodes is all the id is for; a clock-based one
		// still tells this node's probes from the others' in practice.
		b = strconv.AppendInt(nil, time.Now().UnixNano(), 36)
	}
	return &prober{store: store, lease: lease, node: hex.EncodeToString(b), sent: make(map[uint64]time.Time)}
}

// send publishes one probe and forgets those too old to prove anything.
func (p *prober) send(ctx context.Context, log *slog.Logger) {
	now := time.Now()
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.sent[seq] = now
	for k, at := range p.sent {
		if now.Sub(at) > p.lease {
			delete(p.sent, k)
		}
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.lease)
	defer cancel()
	if err := p.store.ProbeFeed(ctx, p.node+"."+strconv.FormatUint(seq, 10)); err != nil && ctx.Err() == nil {
		log.Debug("change feed probe failed; the session cache is trusted only while probes come back", "err", err)
	}
}

// returned reports when the probe was sent, if it is one of this node's
// that is still recent enough to matter.
func (p *prober) returned(probe string) (time.Time, bool) {
	if p == nil {
		return time.Time{}, false
	}
	node, seq, ok := strings.Cut(probe, ".")
	if !ok || node != p.node {
		return time.Time{}, false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.sent[n]
	if !ok {
		// Not one this node is waiting for: an old one, or forged by
		// anyone who can write to the channel (SEC-36). It must not
		// clear the probes still on their way, or a forged high sequence
		// would keep every real one from proving the feed.
		return time.Time{}, false
	}
	// Sent earlier than this one proves nothing more.
	for k := range p.sent {
		if k <= n {
			delete(p.sent, k)
		}
	}
	return at, true
}
