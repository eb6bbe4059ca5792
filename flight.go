package sessiond

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
)

// Concurrent work on one session is done once per node: a burst of
// requests that miss the cache together (a cold cache, a session just
// changed, a page that fires twenty calls at once) makes one store read,
// and a burst of requests from a new browser records one anomaly.

// shareFor bounds how long a read is shared: requests that miss later than
// that after it started read the store themselves, and a request that
// joined it waits for it no longer than that before reading itself, so
// that a read stuck on one connection (its caller gone, the store since
// back) holds nobody else.
const shareFor = 100 * time.Millisecond

// validLoad reads the session stored under h for a request that missed the
// cache, and caches it. While the cache answers, concurrent misses on the
// same token share one read. A joiner takes what it brings only when that
// is, when the answer reaches it, the entry the cache holds for h: exactly
// what a cache hit would give it then. Had a revocation or another change
// of the session, its user or its tenant come (locally or from the feed)
// while the read was under way or since, the cache refused it or dropped
// it, and the joiner reads the store itself. It does so too when the shared
// read failed otherwise than with ErrNotFound, or took longer than
// shareFor. Without the cache (or while its feed is not proven) every
// request reads the store itself: a revocation made a moment before it
// arrived must be seen.
func (m *Manager) validLoad(ctx context.Context, h TokenHash) (*Session, error) {
	if !m.cache.answering() {
		return m.loadAndCache(ctx, h)
	}
	key := string(h[:])
	leads := make(chan struct{}) // closed when this request's read runs
	ch := m.loads.DoChan(key, func() (any, error) {
		close(leads)
		t := time.AfterFunc(shareFor, func() { m.loads.Forget(key) })
		defer t.Stop()
		// The read goes on for the others if the first caller leaves.
		ctx, stop := m.detached(ctx)
		defer stop()
		return shielded(func() (any, error) { return m.loadAndCache(ctx, h) })
	})
	patience := time.NewTimer(shareFor)
	defer patience.Stop()
	var r singleflight.Result
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-leads:
			leads, patience.C = nil, nil // its own read: no limit but the store's
		case <-patience.C:
			return m.loadAndCache(ctx, h)
		case r = <-ch:
			waiting = false
		}
	}
	if p, ok := r.Err.(panicked); ok {
		panic(p.v)
	}
	s, _ := r.Val.(*Session)
	led := leads == nil
	if !led {
		select {
		case <-leads: // closed before the answer was sent
			led = true
		default:
		}
	}
	switch {
	case led:
		return s, r.Err
	case errors.Is(r.Err, ErrNotFound):
		return nil, r.Err
	case r.Err == nil && m.cache.get(h, m.cfg.Now()) == s:
		return s, nil
	}
	return m.loadAndCache(ctx, h)
}

// detached returns ctx without its cancellation and deadline, for work
// done on behalf of several requests: it ends with the Manager (Close; a
// call made after Close is only the caller's, and keeps the store timeout
// alone), and each store call in it is bounded by the store timeout.
func (m *Manager) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	if m.life.Err() != nil {
		return context.WithoutCancel(ctx), func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(m.life, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// panicked carries a panic out of work shared through singleflight, whose
// DoChan would re-raise it in a goroutine of its own, where nothing can
// recover it: each caller raises it again in its own goroutine instead
// (the server answers 500 there, as it did before the work was shared).
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprint("panic: ", p.v) }

// shielded runs fn, returning a panic as a panicked error.
func shielded(fn func() (any, error)) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, panicked{p}
		}
	}()
	return fn()
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
			// up.
			ctx, stop := m.detached(ctx)
			defer stop()
			return shielded(func() (any, error) { return m.actOnAnomaly(ctx, s, c, found) })
		})
		var r singleflight.Result
		select {
		case <-ctx.Done():
			return nil, m.storeErr("flag session", ctx.Err())
		case r = <-ch:
		}
		if p, ok := r.Err.(panicked); ok {
			panic(p.v)
		}
		if r.Err != nil {
			return nil, r.Err
		}
		got := r.Val.(*Session)
		if led || !slices.ContainsFunc(found, func(f string) bool { return !got.HasFlag(f) }) {
			// This request's own session (its token, its data), with
			// the flags as stored.
			own := s.clone()
			own.Flags = got.Flags
			return own, nil
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
