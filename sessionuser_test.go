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

// The node cache never holds a password hash: a user it hands out, read
// with the session or on its own, cached or just loaded, says only whether
// there is one (PasswordHashWithheld); the store's record keeps the hash.
func TestSessionUser_TheNodeCacheHoldsNoPasswordHash(t *testing.T) {
	const hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	for _, tc := range []struct {
		name      string
		cacheSize int
		together  bool
	}{{"cache on, read with the session", 0, true}, {"cache on, read alone", 0, false}, {"cache off", -1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, sessiond.Config{CacheSize: tc.cacheSize})
			var store sessiond.Store = f.store
			if tc.together {
				store = &joined{probe: f.store}
			}
			m := sessiond.NewManager(store, sessiond.Config{Now: f.clock.Now, CacheSize: tc.cacheSize, PurgeInterval: -1})
			t.Cleanup(func() { m.Close() })
			ctx := context.Background()
			for _, u := range []*sessiond.User{
				{ID: "u1", Email: "u1@example.com", EmailKey: "u1@example.com", PasswordHash: hash},
				{ID: "u2", Email: "u2@example.com", EmailKey: "u2@example.com"}, // signs in through a trusted backend
			} {
				if err := f.store.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct{ id, want string }{{"u1", sessiond.PasswordHashWithheld}, {"u2", ""}} {
				token, _, err := m.Create(ctx, sessiond.SessionParams{UserID: c.id, TenantID: "t1"})
				if err != nil {
					t.Fatal(err)
				}
				for range 2 { // the first GET loads, the second is served from the cache (when on)
					s, err := m.Validate(ctx, token, sessiond.Client{})
					if err != nil {
						t.Fatal(err)
					}
					got, err := m.SessionUser(ctx, s, f.store.UserByID)
					if err != nil || got.PasswordHash != c.want || got.Email != c.id+"@example.com" {
						t.Fatalf("SessionUser(%s) = %+v, %v; want PasswordHash %q", c.id, got, err, c.want)
					}
					if got, err := m.User(ctx, c.id, f.store.UserByID); err != nil || got.PasswordHash != c.want {
						t.Fatalf("User(%s) = %+v, %v; want PasswordHash %q", c.id, got, err, c.want)
					}
				}
			}
			if u, err := f.store.UserByID(ctx, "u1"); err != nil || u.PasswordHash != hash {
				t.Fatalf("the store's record lost its hash: %+v, %v", u, err)
			}
		})
	}
}
