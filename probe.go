package sessiond

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"sync"
	"time"
)

// prober sends probes through a store's change feed and recognises its own
// when they come back, so that the cache can tell a live feed from one that
// died without its watcher noticing. Each probe is a fresh random nonce:
// anyone who can write to the channel sees the probes only once they are
// published, so cannot send one ahead of time to prove a feed that lags
// (SEC-36), and a nonce replayed after it came back is no longer awaited.
// Other nodes' probes on the same feed are not awaited either.
type prober struct {
	store FeedProber
	lease time.Duration
	rand  io.Reader

	mu   sync.Mutex
	sent map[string]time.Time // nonce → when it was sent
}

func newProber(store FeedProber, lease time.Duration, rand io.Reader) *prober {
	return &prober{store: store, lease: lease, rand: rand, sent: make(map[string]time.Time)}
}

// send publishes one probe and forgets those too old to prove anything.
func (p *prober) send(ctx context.Context, log *slog.Logger) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		log.Warn("change feed probe not sent: no randomness", "err", err)
		return
	}
	nonce := hex.EncodeToString(b)
	now := time.Now()
	p.mu.Lock()
	p.sent[nonce] = now
	for k, at := range p.sent {
		if now.Sub(at) > p.lease {
			delete(p.sent, k)
		}
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.lease)
	defer cancel()
	if err := p.store.ProbeFeed(ctx, nonce); err != nil && ctx.Err() == nil {
		log.Debug("change feed probe failed; the session cache is trusted only while probes come back", "err", err)
	}
}

// returned reports when the probe was sent, if it is one this node is
// still waiting for. Probes sent before it prove nothing more and are
// forgotten; anything else on the channel is ignored.
func (p *prober) returned(probe string) (time.Time, bool) {
	if p == nil {
		return time.Time{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.sent[probe]
	if !ok {
		return time.Time{}, false
	}
	for k, t := range p.sent {
		if !t.After(at) {
			delete(p.sent, k)
		}
	}
	return at, true
}
