package sessiond_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond"
)

// joined is a store that reads a session and its user together, counting
// its round trips by kind.
type joined struct {
	*probe
	together, users atomic.Int64
}

func (j *joined) SessionAndUserByTokenHash(ctx context.Context, h sessiond.TokenHash) (*sessiond.Session, *sessiond.User, error) {
	j.together.Add(1)
	s, err := j.probe.Store.SessionByTokenHash(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	u, err := j.probe.Store.UserByID(ctx, s.UserID)
	if errors.Is(err, sessiond.ErrNotFound) {
		return s, nil, nil
	}
	return s, u, err
}

func (j *joined) UserByID(ctx context.Context, id string) (*sessiond.User, error) {
	j.users.Add(1)
	return j.probe.Store.UserByID(ctx, id)
}

// A validation that misses the cache reads the session and its user in one
// round trip when the store can, with the node cache on and off; a session
// whose user has no record falls back to the user lookup, which finds none.
func TestSessionUser_OneRoundTripWhenTheStoreReadsBoth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cacheSize int
	}{{"cache on", 0}, {"cache off", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, sessiond.Config{CacheSize: tc.cacheSize})
			j := &joined{probe: f.store}
			m := sessiond.NewManager(j, sessiond.Config{Now: f.clock.Now, CacheSize: tc.cacheSize, PurgeInterval: -1})
			t.Cleanup(func() { m.Close() })
			ctx := context.Background()
			u := &sessiond.User{ID: "u1", Email: "u1@example.com", EmailKey: "u1@example.com", CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now()}
			if err := j.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			token, _, err := m.Create(ctx, sessiond.SessionParams{UserID: "u1", TenantID: "t1"})
			if err != nil {
				t.Fatal(err)
			}
			s, err := m.Validate(ctx, token, sessiond.Client{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.SessionUser(ctx, s, j.UserByID)
			if err != nil || got.Email != "u1@example.com" {
				t.Fatalf("SessionUser = %+v, %v", got, err)
			}
			if n, l, us := j.together.Load(), f.store.lookups.Load(), j.users.Load(); n != 1 || l != 0 || us != 0 {
				t.Fatalf("round trips: %d together, %d session lookups, %d user lookups; want 1, 0, 0", n, l, us)
			}

			own, _, err := m.Create(ctx, sessiond.SessionParams{UserID: "app-user", TenantID: "t1"})
			if err != nil {
				t.Fatal(err)
			}
			s, err = m.Validate(ctx, own, sessiond.Client{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.SessionUser(ctx, s, j.UserByID); !errors.Is(err, sessiond.ErrNotFound) {
				t.Fatalf("SessionUser of a session without a user record: %v, want ErrNotFound", err)
			}
			if us := j.users.Load(); us != 1 {
				t.Fatalf("a session without a user record made %d user lookups, want 1 (an absence is never cached with the session)", us)
			}
		})
	}
}
