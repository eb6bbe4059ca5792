package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redistest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/storetest"
)

// openStore opens a store under a key prefix of its own on
// SESSIOND_TEST_REDIS_URL; the prefix's keys go when the test ends.
func openStore(t *testing.T) *redisstore.Store {
	t.Helper()
	return openSharded(t, 1)
}

// openSharded is openStore with sessions spread over shards hash tags.
func openSharded(t *testing.T, shards int) *redisstore.Store {
	t.Helper()
	url, prefix := redistest.Prefix(t)
	s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix, Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessiond.Store { return openStore(t) })
}

func TestConformance_Sharded(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessiond.Store { return openSharded(t, 4) })
}

// TestPurge_ClearsTheIndexesOfSessionsRedisAlreadyExpired: Redis drops a
// session's keys at its deadline by itself; the purge must still remove it
// from the user's index, or the index would grow forever. (Redis's own TTL
// runs on the wall clock, hence the short real wait.)
func TestPurge_ClearsTheIndexesOfSessionsRedisAlreadyExpired(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(strconv.Itoa(shards)+"shards", func(t *testing.T) { purgeClearsIndexes(t, shards) })
	}
}

func purgeClearsIndexes(t *testing.T, shards int) {
	url, prefix := redistest.Prefix(t)
	s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix, Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var h sessiond.TokenHash
	h[0] = 1
	sess := &sessiond.Session{ID: "00000000-0000-4000-8000-0000000000aa", TokenHash: h, UserID: "u", TenantID: "t",
		CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(50 * time.Millisecond), AuthenticatedAt: now}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	if _, err := s.SessionByID(ctx, sess.ID); !errors.Is(err, sessiond.ErrNotFound) {
		t.Fatalf("Redis kept the session past its deadline: %v", err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, time.Now(), time.Now().Add(-time.Hour), 100); err != nil || n != 1 {
		t.Fatalf("purge = %d, %v; want 1", n, err)
	}
	o, _ := rueidis.ParseURL(url)
	c, err := rueidis.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Nothing may be left but the records of the shard count and of the
	// feed's key.
	keys, err := c.Do(ctx, c.B().Keys().Pattern("{"+prefix+"*").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if want := []string{"{" + prefix + "}:feedkey", "{" + prefix + "}:shards"}; !slices.Equal(keys, want) {
		t.Errorf("keys left after the purge: %v; want %v", keys, want)
	}
}

// TestConformance_Cluster runs the suite against a Redis Cluster
// (SESSIOND_TEST_REDIS_CLUSTER_URL; .ci/run starts three masters).
func TestConformance_Cluster(t *testing.T) {
	url := testenv.Service(t, "SESSIOND_TEST_REDIS_CLUSTER_URL")
	t.Setenv("SESSIOND_TEST_REDIS_URL", url)
	storetest.Run(t, func(t *testing.T) sessiond.Store { return openStore(t) })
}

// TestConformance_ClusterSharded runs the suite on the Cluster with the
// sessions spread over 16 hash tags.
func TestConformance_ClusterSharded(t *testing.T) {
	url := testenv.Service(t, "SESSIOND_TEST_REDIS_CLUSTER_URL")
	t.Setenv("SESSIOND_TEST_REDIS_URL", url)
	storetest.Run(t, func(t *testing.T) sessiond.Store { return openSharded(t, 16) })
}

// TestShards_SpreadSessionsOverTheClusterMasters: with shards, the
// sessions of many users land on more than one master, and each is still
// found by token and by id.
func TestShards_SpreadSessionsOverTheClusterMasters(t *testing.T) {
	url, prefix := redistest.ClusterPrefix(t)
	ctx := context.Background()
	s, err := redisstore.Open(ctx, url, redisstore.Options{Prefix: prefix, Shards: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var made []*sessiond.Session
	for i := range 60 {
		var h sessiond.TokenHash
		h[0], h[1] = byte(i), 0xab
		sess := &sessiond.Session{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), TokenHash: h, UserID: fmt.Sprintf("user-%d", i),
			TenantID: "t", CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour), AuthenticatedAt: now}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		made = append(made, sess)
	}
	for _, sess := range made {
		if got, err := s.SessionByTokenHash(ctx, sess.TokenHash); err != nil || got.ID != sess.ID {
			t.Fatalf("by token: %v, %v", got, err)
		}
		if got, err := s.SessionByID(ctx, sess.ID); err != nil || got.UserID != sess.UserID {
			t.Fatalf("by id: %v, %v", got, err)
		}
	}
	o, _ := rueidis.ParseURL(url)
	c, err := rueidis.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	holding := 0
	for addr, node := range c.Nodes() {
		keys, err := node.Do(ctx, node.B().Keys().Pattern("{"+prefix+"/*}:s:*").Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s holds %d sessions", addr, len(keys))
		if len(keys) > 0 {
			holding++
		}
	}
	if holding < 2 {
		t.Fatalf("the sessions of 60 users are on %d master(s)", holding)
	}
}

// TestShards_TheCountCannotChange: a store written with one shard count
// refuses to open with another, which would lose every session.
func TestShards_TheCountCannotChange(t *testing.T) {
	url, prefix := redistest.Prefix(t)
	ctx := context.Background()
	s, err := redisstore.Open(ctx, url, redisstore.Options{Prefix: prefix, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, n := range []int{1, 8} {
		if s, err := redisstore.Open(ctx, url, redisstore.Options{Prefix: prefix, Shards: n}); err == nil {
			s.Close()
			t.Fatalf("opened with %d shards a store written with 4", n)
		}
	}
	s, err = redisstore.Open(ctx, redistest.URL(url, prefix)+"&shards=4", redisstore.Options{})
	if err != nil {
		t.Fatalf("the same count from the URL: %v", err)
	}
	s.Close()
	for _, bad := range []string{"0", "-1", "x", "16385"} {
		if s, err := redisstore.Open(ctx, redistest.URL(url, prefix)+"&shards="+bad, redisstore.Options{}); err == nil {
			s.Close()
			t.Fatalf("shards=%s accepted", bad)
		}
	}
}

// TestConformance_Sentinel runs the suite through a Sentinel of the test's
// own, in front of a master of its own.
func TestConformance_Sentinel(t *testing.T) {
	url := redistest.Sentinel(t)
	storetest.Run(t, func(t *testing.T) sessiond.Store {
		s, err := redisstore.Open(context.Background(), redistest.URL(url, "t"+strconv.FormatInt(time.Now().UnixNano(), 36)), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestCheck_WarnsAboutSettingsThatLoseSessions: a Redis that keeps what it
// is given draws no warning; one without an append-only file, or with an
// fsync policy that can drop a second of writes, draws one each.
func TestCheck_WarnsAboutSettingsThatLoseSessions(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		settings []string
		want     []string
	}{
		{[]string{"--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"}, nil},
		{[]string{"--appendonly", "no"}, []string{"appendonly is no"}},
		{[]string{"--appendonly", "yes", "--appendfsync", "everysec"}, []string{"appendfsync is everysec"}},
	} {
		s, err := redisstore.Open(ctx, redistest.Own(t, c.settings...).URL, redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := s.Check(ctx)
		s.Close()
		if len(got) != len(c.want) {
			t.Fatalf("%v: warnings %q, want %d", c.settings, got, len(c.want))
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%v: warning %q does not say %q", c.settings, got[i], w)
			}
		}
	}
}

// TestOpen_RefusesARedisThatMayEvict: every policy but noeviction can evict
// what revocation depends on; such a Redis is refused at start (#16.4).
func TestOpen_RefusesARedisThatMayEvict(t *testing.T) {
	ctx := context.Background()
	own := redistest.Own(t, "--appendonly", "yes", "--appendfsync", "always")
	for _, policy := range []string{"allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "noeviction"} {
		if out, err := exec.Command("redis-cli", "-u", own.URL, "config", "set", "maxmemory-policy", policy).CombinedOutput(); err != nil {
			t.Fatalf("config set %s: %v %s", policy, err, out)
		}
		s, err := redisstore.Open(ctx, own.URL, redisstore.Options{})
		if policy == "noeviction" {
			if err != nil {
				t.Fatalf("noeviction refused: %v", err)
			}
			s.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), policy) {
			if s != nil {
				s.Close()
			}
			t.Errorf("maxmemory-policy %s: Open = %v, want a refusal naming it", policy, err)
		}
	}
}

// TestOpen_RefusesPrefixesThatShareOrBreakKeys (#16.6).
func TestOpen_RefusesPrefixesThatShareOrBreakKeys(t *testing.T) {
	url := testenv.Service(t, "SESSIOND_TEST_REDIS_URL")
	for _, prefix := range []string{"px/0", "a}b", "a{b", "a:b", "a b", "a\nb", strings.Repeat("x", 65)} {
		if _, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix}); err == nil || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("prefix %q: %v, want a refusal", prefix, err)
		}
	}
}
