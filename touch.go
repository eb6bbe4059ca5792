package sessiond

import (
	"context"
	"time"
)

type pendingTouch struct {
	hash TokenHash
	at   time.Time
}

// pendingActivity returns the latest known activity of s, counting touches
// not yet written.
func (m *Manager) pendingActivity(s *Session) time.Time {
	m.touchMu.Lock()
	p, ok := m.pending[s.ID]
	m.touchMu.Unlock()
	if ok && p.hash == s.TokenHash && p.at.After(s.LastActivity) {
		return p.at
	}
	return s.LastActivity
}

// touch queues now as s's last activity and returns the updated copy, also
// placed in the cache so that the next requests skip this path.
func (m *Manager) touch(s *Session, now time.Time) *Session {
	m.touchMu.Lock()
	at := now.UTC().Truncate(time.Microsecond)
	m.pending[s.ID] = pendingTouch{hash: s.TokenHash, at: at}
	m.touchMu.Unlock()
	c := s.clone()
	c.LastActivity = at
	m.cache.replace(c)
	return c
}

// flushTouches writes the queued touches in batches.
func (m *Manager) flushTouches(ctx context.Context) error {
	m.touchMu.Lock()
	if len(m.pending) == 0 {
		m.touchMu.Unlock()
		return nil
	}
	batch := make([]Touch, 0, len(m.pending))
	for id, p := range m.pending {
		batch = append(batch, Touch{ID: id, At: p.at})
	}
	clear(m.pending)
	m.touchMu.Unlock()

	const chunk = 500
	for i := 0; i < len(batch); i += chunk {
		part := batch[i:min(i+chunk, len(batch))]
		if err := m.store.TouchSessions(ctx, part); err != nil {
			// Losing a touch only makes idle expiry a little early; it
			// is logged, not retried, so a store outage cannot grow
			// this queue without bound.
			m.log.Warn("touch flush failed", "sessions", len(batch)-i, "err", err)
			return m.storeErr("touch sessions", err)
		}
	}
	return nil
}

func (m *Manager) dropTouch(id string) {
	m.touchMu.Lock()
	delete(m.pending, id)
	m.touchMu.Unlock()
}
