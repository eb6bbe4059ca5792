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

// shareFor bounds how long work is shared: a caller that comes later than
// that after it started does its own, and one that joined waits for it no
// longer than that before doing its own, so that work stuck on one
// connection (its caller gone, the store since back) holds nobody else. A
// variable for the tests (export_test.go); each Manager takes its value.
var shareFor = 100 * time.Millisecond

// shared is a caller's outcome of share.
type shared struct {
	val    any
	err    error
	led    bool // the work ran for this caller
	gaveUp bool // it waited shareFor: the caller does the work itself
}

// share runs work once for the concurrent callers of key in g: the first
// runs it on a context detached from its own (the work goes on for the
// others if it leaves; it ends at Close), the others join it for at most
// m.shareFor. A panic in work is raised again in every caller's goroutine
// (singleflight's DoChan would raise it in one of its own, where nothing
// can recover it). The error is ctx's, when the caller left first.
func (m *Manager) share(ctx context.Context, g *singleflight.Group, key string, work func(context.Context) (any, error)) (shared, error) {
	leads := make(chan struct{}) // closed when the work runs for this caller
	ch := g.DoChan(key, func() (any, error) {
		close(leads)
		t := time.AfterFunc(m.shareFor, func() { g.Forget(key) })
		defer t.Stop()
		return m.onBehalf(ctx, work)
	})
	patience := time.NewTimer(m.shareFor)
	defer patience.Stop()
	wait := patience.C
	for {
		select {
		case <-ctx.Done():
			return shared{}, ctx.Err()
		case <-leads:
			leads, wait = nil, nil // its own work: no limit but the store's
		case <-wait:
			return shared{gaveUp: true}, nil
		case r := <-ch:
			if p, ok := r.Err.(panicked); ok {
				panic(p.v)
			}
			led := leads == nil
			if !led {
				select {
				case <-leads: // closed before the answer was sent
					led = true
				default:
				}
			}
			return shared{val: r.Val, err: r.Err, led: led}, nil
		}
	}
}

// validLoad reads the session stored under h for a request that missed the
// cache, and caches it. While the cache answers, concurrent misses on the
// same token share one read, and a request that joined it answers with
// what the cache holds for h when the read's answer reaches it: exactly
// what a cache hit would give it then (the session just read, or the copy
// a touch put in its place). Had a revocation or another change of the
// session, its user or its tenant come (locally or from the feed) while
// the read was under way or since, the cache refused the answer or dropped
// it, and the request reads the store itself. It does so too when the
// shared read failed otherwise than with ErrNotFound, or took longer than
// shareFor. Without the cache (or while its feed is not proven) every
// request reads the store itself: a revocation made a moment before it
// arrived must be seen.
func (m *Manager) validLoad(ctx context.Context, h TokenHash) (*Session, error) {
	if !m.cache.answering() {
		return m.loadAndCache(ctx, h)
	}
	r, err := m.share(ctx, &m.loads, string(h[:]), func(ctx context.Context) (any, error) { return m.loadAndCache(ctx, h) })
	if err != nil {
		return nil, err
	}
	switch {
	case r.led:
		s, _ := r.val.(*Session)
		return s, r.err
	case r.gaveUp:
	case errors.Is(r.err, ErrNotFound):
		return nil, r.err
	case r.err == nil:
		if s := m.cache.get(h, m.cfg.Now()); s != nil {
			return s, nil
		}
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

// onBehalf runs work on ctx detached (work done for several requests, or
// that a client's hang-up must not undo), returning a panic as a panicked
// error.
func (m *Manager) onBehalf(ctx context.Context, work func(context.Context) (any, error)) (any, error) {
	ctx, stop := m.detached(ctx)
	defer stop()
	return shielded(func() (any, error) { return work(ctx) })
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
	act := func(ctx context.Context) (any, error) { return m.actOnAnomaly(ctx, s, c, found) }
	// Shared by the requests of one token, not of one session id: a
	// token that a rotation replaced gets its own answer (dead), not the
	// live successor's, nor the successor the dead one's.
	key := s.ID + "/" + string(s.TokenHash[:])
	for {
		r, err := m.share(ctx, &m.anomalies, key, act)
		if err != nil {
			return nil, m.storeErr("flag session", err)
		}
		if r.gaveUp {
			// The shared flight is stuck: this request acts alone,
			// detached as the flight is.
			r.val, r.err = m.onBehalf(ctx, act)
			if p, ok := r.err.(panicked); ok {
				panic(p.v)
			}
			r.led = true
		}
		if r.err != nil {
			return nil, r.err
		}
		got := r.val.(*Session)
		if r.led || !slices.ContainsFunc(found, func(f string) bool { return !got.HasFlag(f) }) {
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
	if cur.TokenHash != s.TokenHash {
		// s is a cached copy of a token that a rotation (elsewhere) has
		// replaced: the token is dead, and the session under its id now
		// belongs to its successor, which this request must not flag or
		// revoke.
		return nil, ErrUnauthenticated
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
