package redisstore_test

import (
	"context"
	"errors"
	"strconv"
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
	url, prefix := redistest.Prefix(t)
	s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessiond.Store { return openStore(t) })
}

// TestPurge_ClearsTheIndexesOfSessionsRedisAlreadyExpired: Redis drops a
// session's keys at its deadline by itself; the purge must still remove it
// from the user's index, or the index would grow forever. (Redis's own TTL
// runs on the wall clock, hence the short real wait.)
func TestPurge_ClearsTheIndexesOfSessionsRedisAlreadyExpired(t *testing.T) {
	url, prefix := redistest.Prefix(t)
	s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix})
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
	for _, key := range []string{"u:u", "t:t", "owner", "exp", "idle"} {
		n, err := c.Do(ctx, c.B().Exists().Key("{"+prefix+"}:"+key).Build()).AsInt64()
		if err != nil || n != 0 {
			t.Errorf("%s still exists after the purge (%v)", key, err)
		}
	}
}

// TestConformance_Cluster runs the suite against a Redis Cluster
// (SESSIOND_TEST_REDIS_CLUSTER_URL; .ci/run starts three masters).
func TestConformance_Cluster(t *testing.T) {
	url := testenv.Service(t, "SESSIOND_TEST_REDIS_CLUSTER_URL")
	t.Setenv("SESSIOND_TEST_REDIS_URL", url)
	storetest.Run(t, func(t *testing.T) sessiond.Store { return openStore(t) })
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
