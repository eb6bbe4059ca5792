package sessiond

import (
	"crypto/rand"
	"strconv"
	"testing"
	"time"
)

// TestCache_TombstonesStayBoundedAndStillRefuseStalePuts_SEC35 buries far
// more keys than maxTombs inside one tombWindow (a burst, or junk on the
// feed): the map stays bounded, and a read that started before any of
// those burials still cannot put what it read.
func TestCache_TombstonesStayBoundedAndStillRefuseStalePuts_SEC35(t *testing.T) {
	c := newCache(1000, time.Hour, time.Hour, true)
	s := &Session{ID: "s-1", UserID: "u-1", TenantID: "t-1", TokenHash: HashToken("a")}
	epoch := c.snapshot()
	c.invalidateSession("s:" + s.ID)
	for i := range 4 * maxTombs {
		c.invalidateSession("s:junk-" + strconv.Itoa(i))
		if n := c.tombs(); n > maxTombs {
			t.Fatalf("after %d burials the cache holds %d tombstones, more than maxTombs (%d)", i+1, n, maxTombs)
		}
	}
	c.put(s, epoch, time.Now())
	if c.len() != 0 {
		t.Fatal("a read started before the session's invalidation was cached after a burst of burials")
	}
	c.put(s, c.snapshot(), time.Now())
	if c.len() != 1 {
		t.Fatal("a read started after the burst was not cached")
	}
}

// TestCache_TombstonesExpireFromTheQueueOldestFirst checks the FIFO: past
// tombWindow a tombstone is gone, a key buried again keeps its newest one.
func TestCache_TombstonesExpireFromTheQueueOldestFirst(t *testing.T) {
	c := newCache(1000, time.Hour, 50*time.Millisecond, true)
	epoch := c.snapshot()
	c.invalidateUser("u:u-1")
	c.invalidateTenant("t:t-1")
	deadline := time.Now().Add(5 * time.Second)
	for c.tombs() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d tombstones left 5s after a 50ms window", c.tombs())
		}
		c.invalidateUser("u:u-1") // re-buries u-1, pops the expired ones
		time.Sleep(10 * time.Millisecond)
	}
	// u-1 was buried just now: a read from before still cannot put it.
	s := &Session{ID: "s-1", UserID: "u-1", TenantID: "t-2", TokenHash: HashToken("a")}
	c.put(s, epoch, time.Now())
	if c.len() != 0 {
		t.Fatal("the newest tombstone of a key buried twice expired with its older one")
	}
}

// TestCache_UserAndTenantInvalidationDropOnlyTheirSessions checks the
// per-user and per-tenant indexes against the sessions they name.
func TestCache_UserAndTenantInvalidationDropOnlyTheirSessions(t *testing.T) {
	c := newCache(1000, time.Hour, time.Hour, true)
	mk := func(id, user, tenant string) *Session {
		return &Session{ID: id, UserID: user, TenantID: tenant, TokenHash: HashToken(id)}
	}
	all := []*Session{mk("1", "u1", "t1"), mk("2", "u1", "t2"), mk("3", "u2", "t1"), mk("4", "u3", "t3")}
	for _, s := range all {
		c.put(s, c.snapshot(), time.Now())
	}
	c.invalidateUser("u:u1")
	if c.get(all[0].TokenHash, time.Now()) != nil || c.get(all[1].TokenHash, time.Now()) != nil || c.len() != 2 {
		t.Fatalf("after the user's invalidation %d sessions are cached, want 2 (the other users')", c.len())
	}
	c.invalidateTenant("t:t1")
	if c.get(all[2].TokenHash, time.Now()) != nil || c.get(all[3].TokenHash, time.Now()) == nil {
		t.Fatal("tenant invalidation dropped the wrong sessions")
	}
	// A rotated session (same id, new hash) replaces its old entry.
	r := mk("4", "u3", "t3")
	r.TokenHash = HashToken("rotated")
	c.put(r, c.snapshot(), time.Now())
	c.invalidateTenant("t:t3")
	if c.len() != 0 || len(c.byUser) != 0 || len(c.byTenant) != 0 || len(c.byID) != 0 {
		t.Fatalf("indexes left behind: %d sessions, %d users, %d tenants, %d ids", c.len(), len(c.byUser), len(c.byTenant), len(c.byID))
	}
}

// BenchmarkCache_BurstOfInvalidations measures one burial in a burst far
// past maxTombs: constant, not growing with the burst.
func BenchmarkCache_BurstOfInvalidations(b *testing.B) {
	c := newCache(1000, time.Hour, time.Hour, true)
	for i := 0; b.Loop(); i++ {
		c.invalidateSession("s:junk-" + strconv.Itoa(i))
	}
}

// TestProbe_AForgedProbeProvesNothing_SEC36: anyone who can write to the
// channel sees a node's probes once they are published. Each probe is a
// fresh random nonce: one not yet sent cannot be guessed ahead of time, a
// forged one clears no real probe still on its way, and a nonce replayed
// after it came back proves nothing.
func TestProbe_AForgedProbeProvesNothing_SEC36(t *testing.T) {
	p := newProber(nil, time.Hour, rand.Reader)
	older, newer := time.Now(), time.Now().Add(time.Millisecond)
	p.sent["aaaa"], p.sent["bbbb"] = older, newer
	for _, forged := range []string{"cccc", "", "n.18446744073709551615"} {
		if _, ok := p.returned(forged); ok {
			t.Fatalf("a forged probe %q was taken as proof", forged)
		}
	}
	if at, ok := p.returned("bbbb"); !ok || !at.Equal(newer) {
		t.Fatal("a real probe no longer proves the feed after forged ones")
	}
	for _, again := range []string{"bbbb", "aaaa"} {
		if _, ok := p.returned(again); ok {
			t.Fatalf("probe %q proves the feed again after a later one returned", again)
		}
	}
}
