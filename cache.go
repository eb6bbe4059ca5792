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
//   - an entry read from the store before an invalidation is never inserted
//     after it (the epoch check in put), so a racing lookup cannot bring a
//     revoked session back;
//   - while the watch channel is down the cache is off (see Manager.watch).
type cache struct {
	ttl time.Duration
	max int

	mu      sync.RWMutex
	epoch   uint64 // incremented by every invalidation
	enabled bool
	byHash  map[TokenHash]cacheEntry
	byID    map[string]TokenHash
	users   map[string]userEntry
}

type userEntry struct {
	u     *User
	until time.Time
}

type cacheEntry struct {
	s     *Session
	until time.Time
}

func newCache(size int, ttl time.Duration, enabled bool) *cache {
	if size <= 0 || ttl <= 0 {
		return nil
	}
	return &cache{
		ttl:     ttl,
		max:     size,
		enabled: enabled,
		byHash:  make(map[TokenHash]cacheEntry),
		byID:    make(map[string]TokenHash),
		users:   make(map[string]userEntry),
	}
}

// get returns the cached session for h, or nil. The session is shared: the
// caller must not change it.
func (c *cache) get(h TokenHash, now time.Time) *Session {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e, ok := c.byHash[h]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.s
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

// put caches s unless an invalidation happened since epoch was taken.
func (c *cache) put(s *Session, epoch uint64, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled || c.epoch != epoch {
		return
	}
	if _, ok := c.byHash[s.TokenHash]; !ok && len(c.byHash) >= c.max {
		// Evict an arbitrary entry (map order is random): cheap, and
		// bounded memory matters more than the best hit rate.
		for h, e := range c.byHash {
			delete(c.byHash, h)
			delete(c.byID, e.s.ID)
			break
		}
	}
	c.byHash[s.TokenHash] = cacheEntry{s: s, until: now.Add(c.ttl)}
	c.byID[s.ID] = s.TokenHash
}

// getUser returns the cached user, or nil.
func (c *cache) getUser(id string, now time.Time) *User {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e, ok := c.users[id]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.u
}

// putUser caches u unless an invalidation happened since epoch was taken.
func (c *cache) putUser(u *User, epoch uint64, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled || c.epoch != epoch {
		return
	}
	if _, ok := c.users[u.ID]; !ok && len(c.users) >= c.max {
		for id := range c.users {
			delete(c.users, id)
			break
		}
	}
	c.users[u.ID] = userEntry{u: u, until: now.Add(c.ttl)}
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
		c.byHash[s.TokenHash] = cacheEntry{s: s, until: e.until}
	}
}

// invalidateSession drops the session with the public id.
func (c *cache) invalidateSession(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if h, ok := c.byID[id]; ok {
		delete(c.byHash, h)
		delete(c.byID, id)
	}
}

// invalidateUser drops the user and every session of the user.
func (c *cache) invalidateUser(userID string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	delete(c.users, userID)
	for h, e := range c.byHash {
		if e.s.UserID == userID {
			delete(c.byHash, h)
			delete(c.byID, e.s.ID)
		}
	}
}

// invalidateTenant drops every session of the tenant.
func (c *cache) invalidateTenant(tenantID string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for h, e := range c.byHash {
		if e.s.TenantID == tenantID {
			delete(c.byHash, h)
			delete(c.byID, e.s.ID)
		}
	}
}

// setEnabled flushes the cache and turns it on or off.
func (c *cache) setEnabled(on bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.enabled = on
	clear(c.byHash)
	clear(c.byID)
	clear(c.users)
}

func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byHash)
}
