package sessiond

import (
	"context"
	"errors"
	"slices"
	"strings"

	"golang.org/x/sync/singleflight"
)

// Concurrent work on one session is done once per node: a burst of
// requests that miss the cache together (a cold cache, a session just
// changed, a page that fires twenty calls at once) makes one store read,
// and a burst of requests from a new browser records one anomaly.

// loaded is the outcome of a shared store read: the session and whether
// the cache took it, which it does only when nothing the session depends on
// was invalidated while the read was under way.
type loaded struct {
	s      *Session
	cached bool
}

// validLoad reads the session stored under h for a request that missed the
// cache, and caches it. While the cache answers, concurrent misses on the
// same token share one read: a joiner gets an answer read before it
// arrived, which is what a cache hit gives it too, and no older: when an
// invalidation of the session, its user or its tenant came while the read
// was under way, the cache refuses the answer and each joiner reads again
// on its own. Without the cache (or while its feed is not proven) every
// request reads the store itself: a revocation made a moment before it
// arrived must be seen.
func (m *Manager) validLoad(ctx context.Context, h TokenHash) (*Session, error) {
	if !m.cache.answering() {
		return m.loadAndCache(ctx, h)
	}
	led := false
	ch := m.loads.DoChan(string(h[:]), func() (any, error) {
		led = true
		// The read goes on for the others if the first caller leaves:
		// the store timeout still bounds it.
		epoch := m.cache.snapshot()
		s, err := m.load(context.WithoutCancel(ctx), h)
		if err != nil {
			return loaded{}, err
		}
		now := m.cfg.Now()
		ok := m.cache.put(s, epoch, now)
		if s.user != nil {
			m.cache.putUser(s.user, epoch, now)
		}
		return loaded{s: s, cached: ok}, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		l, _ := r.Val.(loaded)
		if r.Err != nil || led || l.cached {
			return l.s, r.Err
		}
		return m.loadAndCache(ctx, h)
	}
}

// loadAndCache is one request's own read of the session under h, cached
// unless an invalidation raced it.
func (m *Manager) loadAndCache(ctx context.Context, h TokenHash) (*Session, error) {
	epoch := m.cache.snapshot()
	s, err := m.load(ctx, h)
	if err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	m.cache.put(s, epoch, now)
	if s.user != nil {
		m.cache.putUser(s.user, epoch, now)
	}
	return s, nil
}

// anomalyFlight acts on the anomalies found for s, once for all the
// requests of this node that found them at the same time, and against the
// session's flags as stored: flags set meanwhile (by another request, or
// another node) are kept, and a change already flagged is not recorded
// again. A request whose findings the shared flight did not cover (another
// browser and another network in two concurrent requests) runs one more.
func (m *Manager) anomalyFlight(ctx context.Context, s *Session, c Client, found []string) (*Session, error) {
	for {
		led := false
		ch := m.anomalies.DoChan(s.ID, func() (any, error) {
			led = true
			// Recording an anomaly is not undone by a client that hangs
			// up: the store timeout bounds it.
			return m.actOnAnomaly(context.WithoutCancel(ctx), s, c, found)
		})
		var r singleflight.Result
		select {
		case <-ctx.Done():
			return nil, m.storeErr("flag session", ctx.Err())
		case r = <-ch:
		}
		if r.Err != nil {
			return nil, r.Err
		}
		got := r.Val.(*Session)
		if led || !slices.ContainsFunc(found, func(f string) bool { return !got.HasFlag(f) }) {
			return got, nil
		}
	}
}

// actOnAnomaly records and acts on the anomalies in found that the stored
// session does not carry yet, and returns s with its flags as now stored.
func (m *Manager) actOnAnomaly(ctx context.Context, s *Session, c Client, found []string) (*Session, error) {
	cur, err := m.store.SessionByID(ctx, s.ID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		return nil, m.storeErr("load session", err)
	}
	found = slices.DeleteFunc(slices.Clone(found), cur.HasFlag)
	flags := cur.Flags
	if len(found) > 0 {
		for _, f := range found {
			m.Record(ctx, Event{Type: EventAnomaly, UserID: s.UserID, SessionID: s.ID, IPAddress: c.IPAddress, UserAgent: c.UserAgent,
				Detail: map[string]string{"flag": f, "action": string(m.cfg.Anomaly), "login_ip": s.IPAddress, "login_agent": browserFamily(s.UserAgent)}})
		}
		if m.cfg.Anomaly == AnomalyRevoke {
			if err := m.Revoke(ctx, s.ID); err != nil {
				return nil, err
			}
			m.Record(ctx, Event{Type: EventRevoked, UserID: s.UserID, SessionID: s.ID, IPAddress: c.IPAddress, UserAgent: c.UserAgent,
				Detail: map[string]string{"reason": "anomaly", "flags": strings.Join(found, ",")}})
			return nil, ErrUnauthenticated
		}
		flags = append(slices.Clone(cur.Flags), found...)
		if m.cfg.Anomaly == AnomalyReauth && !slices.Contains(flags, FlagReauthRequired) {
			flags = append(flags, FlagReauthRequired)
		}
		err := m.store.SetSessionFlags(ctx, s.ID, flags)
		m.changed(Change{SessionID: s.ID})
		if errors.Is(err, ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		if err != nil {
			return nil, m.storeErr("flag session", err)
		}
	}
	c2 := s.clone()
	c2.Flags = flags
	return c2, nil
}
