package sessiond

import (
	"sync"
	"sync/atomic"
)

// A Follower reports changes that may concern one session: changes to the
// session itself, to its user or to its tenant, made by any process and
// delivered by the store's change feed, and the loss of that feed. It is
// what live revocation streams are built on. Changes are coalesced: one
// value on C stands for one or more changes since the last receive; the
// follower reads the session again to learn what happened.
type Follower struct {
	// C receives a value when something may have changed, or the feed
	// was lost (then Lost reports true and nothing more arrives).
	C    <-chan struct{}
	c    chan struct{}
	lost atomic.Bool
	keys [3]string
	m    *Manager
	once sync.Once
}

// Lost reports whether the change feed was lost since the follower began:
// changes may have been missed, and whoever follows must find out by other
// means (or tell its client it does not know).
func (f *Follower) Lost() bool { return f.lost.Load() }

// Stop releases the follower. It is safe to call more than once.
func (f *Follower) Stop() {
	f.once.Do(func() { f.m.followers.remove(f) })
}

func (f *Follower) signal() {
	select {
	case f.c <- struct{}{}:
	default: // one pending value already stands for this change
	}
}

// Follow starts reporting the changes that may concern s. On a store
// without a change feed nothing is reported but the end of the Manager.
// Call Stop when done.
func (m *Manager) Follow(s *Session) *Follower {
	c := make(chan struct{}, 1)
	f := &Follower{C: c, c: c, m: m, keys: [3]string{m.feedForm(Change{SessionID: s.ID}).String(),
		m.feedForm(Change{UserID: s.UserID}).String(), m.feedForm(Change{TenantID: s.TenantID}).String()}}
	m.followers.add(f)
	return f
}

// followers indexes the live followers by the change keys they wait for.
type followers struct {
	mu  sync.Mutex
	by  map[string]map[*Follower]struct{}
	all map[*Follower]struct{}
}

func (fs *followers) add(f *Follower) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.by == nil {
		fs.by = make(map[string]map[*Follower]struct{})
		fs.all = make(map[*Follower]struct{})
	}
	fs.all[f] = struct{}{}
	for _, k := range f.keys {
		if fs.by[k] == nil {
			fs.by[k] = make(map[*Follower]struct{})
		}
		fs.by[k][f] = struct{}{}
	}
}

func (fs *followers) remove(f *Follower) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.all, f)
	for _, k := range f.keys {
		delete(fs.by[k], f)
		if len(fs.by[k]) == 0 {
			delete(fs.by, k)
		}
	}
}

// changed signals the followers of c.
func (fs *followers) changed(c Change) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.all) == 0 {
		return
	}
	for f := range fs.by[c.String()] {
		f.signal()
	}
}

// lost tells every follower that the feed was lost.
func (fs *followers) lost() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for f := range fs.all {
		f.lost.Store(true)
		f.signal()
	}
}
