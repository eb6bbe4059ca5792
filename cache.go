package sessiond

import (
	"sync"
	"time"
)

// cache keeps validated sessions in memory, keyed by token hash. It is
// bounded in size and in age, and it never holds a session longer than it
// should after a revocation:
//
//   - local changes invalidate at once;
//   - changes by other processes arrive through the store's ChangeWatcher;
//   - an entry read from the store before an invalidation of that session,
//     its user or its tenant is never inserted after it (the tombstone check
//     in put), so a racing lookup cannot bring a revoked session back;
//   - while the watch channel is down the cache is off (see Manager.watch);
//   - with a lease (stores that are FeedProbers), a cached answer is given
//     only while a probe sent through the feed less than lease ago came
//     back: a feed that died without the watcher noticing stops the cache
//     within the lease, before the watcher finds out.
//
// Tombstones are per session, user and tenant, not one global counter, so
// that a stream of unrelated revocations does not keep the cache from
// filling. Every operation is O(1) amortised, whatever the burst (#16.2):
// tombstones expire from a FIFO queue, and a user's or tenant's sessions
// are found through indexes, never by walking the cache under its lock.
type cache struct {
	ttl time.Duration
	max int
	// tombWindow is how long a tombstone must outlive its invalidation:
	// longer than any store read can take (StoreTimeout).
	tombWindow time.Duration

	// lease, when positive, is how long the cache is trusted after the
	// feed was last proven live, which sinceProven reports (the Manager's:
	// the send time of the latest probe that came back, or the feed's
	// connection, on the monotonic clock; it measures the feed, not
	// sessions).
	lease       time.Duration
	sinceProven func() time.Duration

	// conceal, when set, is the store's ChangeConcealer: every key below
	// names a session, user or tenant as the feed does, by a keyed hash
	// of its id, so that what arrives on the feed finds what it names.
	conceal func(Change) Change

	mu       sync.RWMutex
	epoch    uint64 // incremented by every invalidation
	flushed  uint64 // epoch of the last flush of everything
	dropped  map[string]tomb
	buried   tombQueue // the keys of dropped in burial order
	enabled  bool
	byHash   map[TokenHash]cacheEntry
	byID     map[string]TokenHash              // by session key
	byUser   map[string]map[TokenHash]struct{} // by user key
	byTenant map[string]map[TokenHash]struct{} // by tenant key
	users    map[string]userEntry              // by user id
	userKeys map[string]string                 // user key -> user id
}

// maxTombs bounds the tombstones kept at once. Past it, a burial turns
// into a flush of every put in flight (see bury): memory stays bounded
// whatever arrives on the feed, at the price of a few refused puts.
const maxTombs = 1 << 15

// tomb records the epoch and time of the last invalidation of a key: a
// Change's String(), "s:"+session id, "u:"+user id or "t:"+tenant id, ids
// concealed as the feed carries them (see cache.key).
type tomb struct {
	epoch uint64
	at    time.Time
}

// buriedKey is one burial, in the queue that expires tombstones oldest
// first.
type buriedKey struct {
	key   string
	epoch uint64
	at    time.Time
}

// tombQueue is a FIFO of burials: append at the tail, pop at the head,
// the backing array reused once half of it is popped.
type tombQueue struct {
	q    []buriedKey
	head int
}

func (t *tombQueue) push(b buriedKey) { t.q = append(t.q, b) }

func (t *tombQueue) peek() (buriedKey, bool) {
	if t.head == len(t.q) {
		return buriedKey{}, false
	}
	return t.q[t.head], true
}

func (t *tombQueue) pop() {
	t.q[t.head] = buriedKey{}
	t.head++
	if t.head == len(t.q) {
		t.q, t.head = t.q[:0], 0
	} else if t.head > 1024 && t.head*2 > len(t.q) {
		t.q = append(t.q[:0], t.q[t.head:]...)
		t.head = 0
	}
}

func (t *tombQueue) reset() { t.q, t.head = nil, 0 }

type userEntry struct {
	u     *User
	key   string
	until time.Time
}

type cacheEntry struct {
	s             *Session
	sid, uid, tid string // the keys of the session, its user, its tenant
	until         time.Time
}

func newCache(size int, ttl, tombWindow time.Duration, enabled bool) *cache {
	if size <= 0 || ttl <= 0 {
		return nil
	}
	return &cache{
		ttl:        ttl,
		max:        size,
		tombWindow: tombWindow,
		enabled:    enabled,
		dropped:    make(map[string]tomb),
		byHash:     make(map[TokenHash]cacheEntry),
		byID:       make(map[string]TokenHash),
		byUser:     make(map[string]map[TokenHash]struct{}),
		byTenant:   make(map[string]map[TokenHash]struct{}),
		users:      make(map[string]userEntry),
		userKeys:   make(map[string]string),
	}
}

// key is the name of ch in the cache's maps and tombstones: what the feed
// carries for it.
func (c *cache) key(ch Change) string {
	if c.conceal != nil {
		ch = c.conceal(ch)
	}
	return ch.String()
}

// get returns the cached session for h, or nil. The session is shared: the
// caller must not change it.
func (c *cache) get(h TokenHash, now time.Time) *Session {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e, ok := c.byHash[h]
	trusted := c.trusted()
	c.mu.RUnlock()
	if !ok || !trusted || !now.Before(e.until) {
		return nil
	}
	return e.s
}

// answering reports whether the cache answers at all now: it is on and
// the feed was proven live within the lease.
func (c *cache) answering() bool {
	if c == nil {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.enabled && c.trusted()
}

// trusted reports whether the feed was proven live within the lease.
func (c *cache) trusted() bool {
	return c.lease <= 0 || c.sinceProven() < c.lease
}

// snapshot returns the epoch to pass to put for a store read that starts now.
func (c *cache) snapshot() uint64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// stale reports whether any key was invalidated after epoch. The caller
// holds mu.
func (c *cache) stale(epoch uint64, keys ...string) bool {
	if !c.enabled || c.flushed > epoch {
		return true
	}
	for _, k := range keys {
		if t, ok := c.dropped[k]; ok && t.epoch > epoch {
			return true
		}
	}
	return false
}

// bury records the invalidation of key. The caller holds mu.
//
// A tombstone exists so that a store read that started before the
// invalidation cannot put what it read after it (put compares epochs). It
// must therefore outlive every such read: tombWindow is longer than any
// store call may take (StoreTimeout), so a tombstone older than tombWindow
// can no longer refuse anything that matters and is dropped. Burials come
// in time order, so the expired ones are at the head of the queue: each
// burial pops them, O(1) amortised, instead of walking the map under the
// write lock. A key buried again keeps its newest tombstone: the queue's
// older entry for it no longer matches its epoch and only leaves the
// queue.
//
// Past maxTombs live tombstones (a burst faster than tombWindow can
// expire, or junk on the feed), the whole map is replaced by one flush:
// flushed = epoch refuses every put whose read started before now, which
// is what each of the dropped tombstones did and more, so correctness
// holds and memory stays bounded.
func (c *cache) bury(key string) {
	c.epoch++
	now := time.Now()
	for {
		b, ok := c.buried.peek()
		if !ok || now.Sub(b.at) <= c.tombWindow {
			break
		}
		if t, ok := c.dropped[b.key]; ok && t.epoch == b.epoch {
			delete(c.dropped, b.key)
		}
		c.buried.pop()
	}
	if len(c.dropped) >= maxTombs {
		c.flushed = c.epoch
		c.dropped = make(map[string]tomb) // a new map gives the memory back
		c.buried.reset()
		return
	}
	c.dropped[key] = tomb{epoch: c.epoch, at: now}
	c.buried.push(buriedKey{key: key, epoch: c.epoch, at: now})
}

// tombs reports how many tombstones the cache holds.
func (c *cache) tombs() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.dropped)
}

// index adds h to the set of key in idx. The caller holds mu.
func index(idx map[string]map[TokenHash]struct{}, key string, h TokenHash) {
	set := idx[key]
	if set == nil {
		set = make(map[TokenHash]struct{})
		idx[key] = set
	}
	set[h] = struct{}{}
}

// unindex removes h from the set of key in idx. The caller holds mu.
func unindex(idx map[string]map[TokenHash]struct{}, key string, h TokenHash) {
	if set := idx[key]; set != nil {
		delete(set, h)
		if len(set) == 0 {
			delete(idx, key)
		}
	}
}

// remove drops the entry under h and its index entries. The caller holds
// mu.
func (c *cache) remove(h TokenHash) {
	e, ok := c.byHash[h]
	if !ok {
		return
	}
	delete(c.byHash, h)
	if c.byID[e.sid] == h {
		delete(c.byID, e.sid)
	}
	unindex(c.byUser, e.uid, h)
	unindex(c.byTenant, e.tid, h)
}

// removeAll drops every entry of set (one user's or tenant's). The caller
// holds mu.
func (c *cache) removeAll(set map[TokenHash]struct{}) {
	for h := range set {
		c.remove(h)
	}
}

// put caches s unless s, its user or its tenant was invalidated since epoch
// was taken.
func (c *cache) put(s *Session, epoch uint64, now time.Time) {
	if c == nil {
		return
	}
	e := cacheEntry{s: s, until: now.Add(c.ttl), sid: c.key(Change{SessionID: s.ID}),
		uid: c.key(Change{UserID: s.UserID}), tid: c.key(Change{TenantID: s.TenantID})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stale(epoch, e.sid, e.uid, e.tid) {
		return
	}
	if _, ok := c.byHash[s.TokenHash]; !ok && len(c.byHash) >= c.max {
		// Evict an arbitrary entry (map order is random): cheap, and
		// bounded memory matters more than the best hit rate.
		for h := range c.byHash {
			c.remove(h)
			break
		}
	}
	if old, ok := c.byID[e.sid]; ok && old != s.TokenHash {
		c.remove(old)
	}
	c.remove(s.TokenHash)
	c.byHash[s.TokenHash] = e
	c.byID[e.sid] = s.TokenHash
	index(c.byUser, e.uid, s.TokenHash)
	index(c.byTenant, e.tid, s.TokenHash)
}

// getUser returns the cached user, or nil.
func (c *cache) getUser(id string, now time.Time) *User {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e, ok := c.users[id]
	trusted := c.trusted()
	c.mu.RUnlock()
	if !ok || !trusted || !now.Before(e.until) {
		return nil
	}
	return e.u
}

// putUser caches u unless it was invalidated since epoch was taken.
func (c *cache) putUser(u *User, epoch uint64, now time.Time) {
	if c == nil {
		return
	}
	key := c.key(Change{UserID: u.ID})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stale(epoch, key) {
		return
	}
	if _, ok := c.users[u.ID]; !ok && len(c.users) >= c.max {
		for id, e := range c.users {
			delete(c.users, id)
			delete(c.userKeys, e.key)
			break
		}
	}
	c.users[u.ID] = userEntry{u: u, key: key, until: now.Add(c.ttl)}
	c.userKeys[key] = u.ID
}

// replace swaps the cached copy of s, keeping its deadline, when it is still
// cached under the same hash. It is for the node's own updates that do not
// invalidate (a touch).
func (c *cache) replace(s *Session) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byHash[s.TokenHash]; ok && e.s.ID == s.ID {
		e.s = s
		c.byHash[s.TokenHash] = e
	}
}

// invalidateSession drops the session named by key (see cache.key).
func (c *cache) invalidateSession(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bury(key)
	if h, ok := c.byID[key]; ok {
		c.remove(h)
	}
}

// invalidateUser drops the user named by key and every session of the
// user.
func (c *cache) invalidateUser(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bury(key)
	if id, ok := c.userKeys[key]; ok {
		delete(c.users, id)
		delete(c.userKeys, key)
	}
	c.removeAll(c.byUser[key])
}

// invalidateTenant drops every session of the tenant named by key.
func (c *cache) invalidateTenant(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bury(key)
	c.removeAll(c.byTenant[key])
}

// setEnabled flushes the cache and turns it on or off.
func (c *cache) setEnabled(on bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.flushed = c.epoch
	clear(c.dropped)
	c.buried.reset()
	c.enabled = on
	clear(c.byHash)
	clear(c.byID)
	clear(c.byUser)
	clear(c.byTenant)
	clear(c.users)
	clear(c.userKeys)
}

func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byHash)
}
