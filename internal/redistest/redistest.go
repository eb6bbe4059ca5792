// Package redistest gives tests a key prefix of their own on the Redis
// named by SESSIOND_TEST_REDIS_URL, whose keys are deleted when the test
// ends: the server is shared by every test run on the machine.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"

	"github.com/redis/rueidis"
)

// Prefix returns the server's URL and a new key prefix. Without
// SESSIOND_TEST_REDIS_URL the test is skipped, or fails when
// SESSIOND_TEST_REQUIRE_SERVICES=1 (as in CI).
func Prefix(t testing.TB) (url, prefix string) {
	t.Helper()
	return prefixOn(t, "SESSIOND_TEST_REDIS_URL")
}

// ClusterPrefix is Prefix on the Redis Cluster named by
// SESSIOND_TEST_REDIS_CLUSTER_URL.
func ClusterPrefix(t testing.TB) (url, prefix string) {
	t.Helper()
	return prefixOn(t, "SESSIOND_TEST_REDIS_CLUSTER_URL")
}

func prefixOn(t testing.TB, env string) (url, prefix string) {
	t.Helper()
	url = testenv.Service(t, env)
	var b [6]byte
	rand.Read(b[:])
	prefix = "sessiond-test-" + hex.EncodeToString(b[:])
	// "{prefix}:…" and, with shards, "{prefix/N}:…".
	t.Cleanup(func() { deleteKeys(t, url, "{"+prefix+"*") })
	return url, prefix
}

// URL returns url with the store's prefix parameter set.
func URL(url, prefix string) string {
	return testenv.WithParam(url, "prefix="+prefix)
}

func deleteKeys(t testing.TB, url, pattern string) {
	o, err := rueidis.ParseURL(url)
	if err == nil {
		var c rueidis.Client
		if c, err = rueidis.NewClient(o); err == nil {
			defer c.Close()
			// On a Cluster, SCAN sees one node: scan every one.
			for _, node := range c.Nodes() {
				if err := deleteOnNode(node, pattern); err != nil {
					t.Errorf("cleanup of %s: %v", pattern, err)
				}
			}
			return
		}
	}
	t.Errorf("cleanup of %s: %v", pattern, err)
}

func deleteOnNode(c rueidis.Client, pattern string) error {
	ctx := context.Background()
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
		if err != nil {
			return err
		}
		for _, k := range e.Elements {
			// One key at a time: on a Cluster, keys of other prefixes
			// may live in other slots.
			if err := c.Do(ctx, c.B().Del().Key(k).Build()).Error(); err != nil {
				return err
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return nil
		}
	}
}
