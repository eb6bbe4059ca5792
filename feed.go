package sessiond

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// ChangeConcealer is an optional capability of a ChangeWatcher whose
// channel clients without access to sessiond's data can read (PostgreSQL:
// any role that can connect may LISTEN on any channel). Such a store never
// puts an id on its channel: it publishes ConcealChange(key, c) with a key
// that only holders of its data can read, and its watcher delivers changes
// in that form. A Manager names what it caches the same way (through
// ConcealChange of the store), so that what arrives still finds what it
// names, while a listener learns nothing but that something changed.
type ChangeConcealer interface {
	// ConcealChange returns c as the store's feed carries it.
	ConcealChange(c Change) Change
}

// ConcealChange replaces the id of c by a keyed hash of its kind and id:
// HMAC-SHA256 under key, the first 128 bits in hex. A probe is left as it
// is: it names nothing. Equal changes conceal equally, so a node matches
// what arrives with what it caches.
func ConcealChange(key []byte, c Change) Change {
	tag := func(kind, id string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(kind))
		m.Write([]byte{':'})
		m.Write([]byte(id))
		return hex.EncodeToString(m.Sum(nil)[:16])
	}
	switch {
	case c.SessionID != "":
		return Change{SessionID: tag("s", c.SessionID)}
	case c.UserID != "":
		return Change{UserID: tag("u", c.UserID)}
	case c.TenantID != "":
		return Change{TenantID: tag("t", c.TenantID)}
	}
	return c
}

// watch keeps the cache coherent with other processes' changes. The cache is
// on only while the change feed is live; each time the feed is lost, the
// cache is flushed and turned off until it is back (SEC-21).
func (m *Manager) watch(ctx context.Context, w ChangeWatcher) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.WatchChanges(ctx,
			func() {
				// The feed was just (re)connected: every change from
				// now on arrives, and the cache starts empty.
				m.proven.Store(int64(time.Since(m.started)))
				m.cache.setEnabled(true)
				backoff = 100 * time.Millisecond
			},
			func(c Change) {
				if c.Probe != "" {
					if sent, ok := m.probes.returned(c.Probe); ok {
						if n := int64(sent.Sub(m.started)); n > m.proven.Load() {
							m.proven.Store(n)
						}
					}
					return
				}
				// Already in the feed's form (concealed, with a
				// ChangeConcealer store).
				m.drop(c)
			})
		m.cache.setEnabled(false)
		m.followers.lost()
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("change feed lost; session cache off until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// changed drops what the cache holds of c and tells the followers. It is
// called for this node's own changes, at once, and the feed brings each
// again (the second time costs little).
func (m *Manager) changed(c Change) { m.drop(m.feedForm(c)) }

// feedForm returns c as the store's feed carries it.
func (m *Manager) feedForm(c Change) Change {
	if m.conceal != nil && c.Probe == "" {
		return m.conceal(c)
	}
	return c
}

// drop is changed for a change in the feed's form. It costs O(1)
// amortised whatever the change (SEC-35): a burst of them, or junk that
// anyone who can reach the channel sent, delays nothing for long.
func (m *Manager) drop(c Change) {
	switch {
	case c.SessionID != "":
		m.cache.invalidateSession(c.String())
	case c.UserID != "":
		m.cache.invalidateUser(c.String())
	case c.TenantID != "":
		m.cache.invalidateTenant(c.String())
	}
	m.followers.changed(c)
}

// sinceProven is how long ago the feed was last proven live.
func (m *Manager) sinceProven() time.Duration {
	return time.Since(m.started) - time.Duration(m.proven.Load())
}

// goLoop runs fn every interval until ctx ends.
func (m *Manager) goLoop(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
}
