package redisstore_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redistest"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/storetest"
)

// openFormat1 opens a store that writes sessions as earlier versions did
// (format 1, a hash per session); reading, updating and deleting are the
// current store's.
func openFormat1(t *testing.T, url, prefix string, shards int) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix, Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	redisstore.WriteFormat1(s)
	return s
}

// TestConformance_Format1Records runs the whole suite on sessions stored
// in the earlier format: every session the suite creates or rotates is
// written as earlier versions wrote it, and every other call is the
// current store's.
func TestConformance_Format1Records(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(strconv.Itoa(shards)+"shards", func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) sessiond.Store {
				url, prefix := redistest.Prefix(t)
				return openFormat1(t, url, prefix, shards)
			})
		})
	}
}

// TestUpgrade_Format1ToFormat2: the current store serves, changes,
// counts and deletes the sessions an earlier version left, beside its
// own, for the same users and tenants.
func TestUpgrade_Format1ToFormat2(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(strconv.Itoa(shards)+"shards", func(t *testing.T) {
			storetest.RunUpgrade(t, func(t *testing.T) (sessiond.Store, sessiond.Store) {
				url, prefix := redistest.Prefix(t)
				before := openFormat1(t, url, prefix, shards)
				after, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix, Shards: shards})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { after.Close() })
				return before, after
			})
		})
	}
}

// TestFormat2_NoIndexEntryOutlivesItsSession: sessions of both formats,
// deleted every way there is (one by one, by user, by tenant, by the cap,
// by rotation, and by Redis's own expiry followed by the purge), leave no
// key behind but the store's shard count and feed key (and, with shards, the pointers
// that expire with their sessions): no user, tenant or deadline index
// entry, no owner record.
func TestFormat2_NoIndexEntryOutlivesItsSession(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(strconv.Itoa(shards)+"shards", func(t *testing.T) {
			url, prefix := redistest.Prefix(t)
			old := openFormat1(t, url, prefix, shards)
			cur, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix, Shards: shards})
			if err != nil {
				t.Fatal(err)
			}
			defer cur.Close()
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			var short []*sessiond.Session // expire by Redis's TTL
			var aIDs []string             // deleted one by one
			for i, w := range []*redisstore.Store{old, cur, old, cur} {
				for _, user := range []string{"a", "b", "c", "d", "e"} {
					sess := newTestSession(t, user, now)
					sess.TenantID = "tenant-" + user
					switch {
					case user == "a":
						aIDs = append(aIDs, sess.ID)
					case user == "e":
						sess.ExpiresAt = now.Add(200 * time.Millisecond)
						short = append(short, sess)
					}
					if err := w.CreateSession(ctx, sess); err != nil {
						t.Fatal(err)
					}
					if user == "c" && i%2 == 0 {
						n := newTestSession(t, user, now)
						n.TenantID = sess.TenantID
						if err := cur.RotateSession(ctx, sess.ID, n); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			for _, id := range aIDs {
				if err := cur.DeleteSession(ctx, id); err != nil {
					t.Fatalf("DeleteSession(%s): %v", id, err)
				}
			}
			if n, err := cur.DeleteUserSessions(ctx, "b", ""); err != nil || n != 4 {
				t.Fatalf("DeleteUserSessions(b) = %d, %v; want 4", n, err)
			}
			if n, err := cur.DeleteTenantSessions(ctx, "tenant-c"); err != nil || n != 4 {
				t.Fatalf("DeleteTenantSessions(tenant-c) = %d, %v; want 4", n, err)
			}
			lim := sessiond.Limit{Max: 1, Evict: true, Now: now, IdleBefore: now.Add(-24 * time.Hour)}
			evicted, err := cur.CreateSessionLimited(ctx, newTestSession(t, "d", now.Add(time.Minute)), lim)
			if err != nil || len(evicted) != 4 {
				t.Fatalf("a session at a cap of 1 evicted %d, %v; want 4", len(evicted), err)
			}
			if n, err := cur.DeleteUserSessions(ctx, "d", ""); err != nil || n != 1 {
				t.Fatalf("DeleteUserSessions(d) = %d, %v; want 1", n, err)
			}
			// Redis expires e's keys by itself; the purge then clears their
			// index entries.
			deadline := time.Now().Add(10 * time.Second)
			for _, sess := range short {
				for {
					_, err := cur.SessionByID(ctx, sess.ID)
					if err == sessiond.ErrNotFound {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("Redis kept session %s 10 s past its deadline: %v", sess.ID, err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			if n, err := cur.DeleteExpiredSessions(ctx, time.Now(), now.Add(-24*time.Hour), 100); err != nil || n != len(short) {
				t.Fatalf("purge = %d, %v; want %d", n, err, len(short))
			}
			c := rawClient(t, url)
			var keys []string
			for _, node := range c.Nodes() {
				got, err := node.Do(ctx, node.B().Keys().Pattern("{"+prefix+"*").Build()).AsStrSlice()
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, got...)
			}
			// With shards, the pointers from ids and token hashes to users
			// stay until their session's deadline, as they always have (a
			// pointer leads nowhere once its session is gone).
			keys = slices.DeleteFunc(keys, func(k string) bool {
				return strings.HasSuffix(k, "}:shards") || strings.HasSuffix(k, "}:feedkey") || strings.Contains(k, "}:pi:") || strings.Contains(k, "}:ph:")
			})
			if len(keys) != 0 {
				t.Errorf("keys left after every session was deleted: %q", keys)
			}
		})
	}
}

// TestFormat2_IsOneStringAndKeepsExactTimes: a session is one string key,
// and the scripts that rewrite it (touch, data, flags) keep every time to
// the microsecond, the zero time included, and every field's shape.
func TestFormat2_IsOneStringAndKeepsExactTimes(t *testing.T) {
	url, prefix := redistest.Prefix(t)
	s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	sess := newTestSession(t, "u", now)
	sess.AuthenticatedAt = time.Time{}.UTC()
	sess.CreatedAt = time.Date(1900, 1, 2, 3, 4, 5, 6000, time.UTC)
	sess.UserAgent = strings.Repeat("ü", 40000) // a long string: str16 and beyond
	sess.Data = json.RawMessage(`{}`)
	sess.Flags = []string{"a", "b"}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Second + time.Microsecond)
	if err := s.TouchSessions(ctx, []sessiond.Touch{{ID: sess.ID, At: later}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSessionFlags(ctx, sess.ID, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateSessionData(ctx, sess.ID, json.RawMessage(`{"k":"v"}`), sess.Version); err != nil {
		t.Fatal(err)
	}
	c := rawClient(t, url)
	if ty, err := c.Do(ctx, c.B().Type().Key("{"+prefix+"}:s:"+sess.ID).Build()).ToString(); err != nil || ty != "string" {
		t.Fatalf("the session's key is a %s (%v), want a string", ty, err)
	}
	got, err := s.SessionByTokenHash(ctx, sess.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	want := *sess
	want.LastActivity, want.Flags, want.Data, want.Version = later, []string{"c"}, json.RawMessage(`{"k":"v"}`), sess.Version+1
	if got.UserAgent != want.UserAgent {
		t.Fatalf("user agent of %d bytes came back as %d bytes", len(want.UserAgent), len(got.UserAgent))
	}
	got.UserAgent, want.UserAgent = "", ""
	if string(got.Data) != string(want.Data) {
		t.Fatalf("data %s, want %s", got.Data, want.Data)
	}
	got.Data, want.Data = nil, nil
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("after the scripts rewrote it:\n got %+v\nwant %+v", got, &want)
	}
	if err := s.UpdateSessionData(ctx, sess.ID, nil, want.Version); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SessionByID(ctx, sess.ID); err != nil || got.Data != nil {
		t.Fatalf("data after clearing: %q, %v; want nil", got.Data, err)
	}
	far := newTestSession(t, "u", now)
	far.ExpiresAt = time.Date(9999, 1, 1, 0, 0, 0, 1000, time.UTC)
	if err := s.CreateSession(ctx, far); err == nil || err == sessiond.ErrConflict {
		t.Fatalf("a time a record cannot keep exactly: %v; want an error", err)
	}
}
