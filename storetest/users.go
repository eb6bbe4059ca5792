package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// testUpdateUserVersion checks that UpdateUser is conditional on the
// version: an update from a stale read is ErrConflict and changes nothing.
func testUpdateUserVersion(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	u := newUser("55555555-5555-4555-8555-555555555555", "cid@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	stale := *u
	u.NeedsOnboarding, u.OnboardingStep = false, ""
	if err := s.UpdateUser(ctx, u); err != nil || u.Version != 1 {
		t.Fatalf("UpdateUser at version 0 = %v, version %d; want nil, 1", err, u.Version)
	}
	stale.OnboardingStep = "stale"
	wantErr(t, "UpdateUser from a stale read", s.UpdateUser(ctx, &stale), sessiond.ErrConflict)
	if stale.Version != 0 {
		t.Fatalf("a refused update changed the caller's version to %d", stale.Version)
	}
	got, err := s.UserByID(ctx, u.ID)
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("after a refused update = %+v, %v; want %+v", got, err, u)
	}
}

// testUpgradeRace checks the rule that makes a password hash upgrade at
// login safe: of several updates made from the same read (parallel logins
// upgrading the hash, a password change), exactly one is stored.
func testUpgradeRace(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	u := newUser("66666666-6666-4666-8666-666666666666", "dee@example.com")
	u.PasswordHash = "pbkdf2_sha256$1000$salt$old"
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []string
		errs []error
	)
	for i := range n {
		wg.Go(func() {
			c := *u
			c.PasswordHash = fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$%d", i)
			err := s.UpdateUser(ctx, &c)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, c.PasswordHash)
			case !errors.Is(err, sessiond.ErrConflict):
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || len(won) != 1 {
		t.Fatalf("%d parallel updates from one read: %d stored, errors %v; want exactly 1 stored, the rest ErrConflict", n, len(won), errs)
	}
	got, err := s.UserByID(ctx, u.ID)
	if err != nil || got.PasswordHash != won[0] || got.Version != 1 {
		t.Fatalf("stored user = %+v, %v; want the winner's hash %q at version 1", got, err, won[0])
	}
}

// testDeleteUser checks that DeleteUser removes the record and frees its
// email key, that a second delete is ErrNotFound, and that the feed
// announces the deletion.
func testDeleteUserRecord(t *testing.T, s sessiond.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := watch(t, ctx, s)
	u := newUser("77777777-7777-4777-8777-777777777777", "eve@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.UserByID(ctx, u.ID)
	wantErr(t, "UserByID after DeleteUser", err, sessiond.ErrNotFound)
	_, err = s.UserByEmailKey(ctx, u.EmailKey)
	wantErr(t, "UserByEmailKey after DeleteUser", err, sessiond.ErrNotFound)
	wantErr(t, "second DeleteUser", s.DeleteUser(ctx, u.ID), sessiond.ErrNotFound)
	wantErr(t, "UpdateUser after DeleteUser", s.UpdateUser(ctx, u), sessiond.ErrNotFound)
	again := newUser("88888888-8888-4888-8888-888888888888", "eve@example.com")
	if err := s.CreateUser(ctx, again); err != nil {
		t.Fatalf("CreateUser with the email of a deleted user: %v", err)
	}
	if list, _, err := s.ListUsers(ctx, sessiond.UserFilter{Limit: 10}); err != nil || len(list) != 1 || list[0].ID != again.ID {
		t.Fatalf("ListUsers after DeleteUser = %d users, %v; want only %s", len(list), err, again.ID)
	}
	if changes != nil {
		waitChange(t, changes, feedForm(s, sessiond.Change{UserID: u.ID}))
	}
}

// testUpdateUserAnnounced checks that an update reaches the change feed.
func testUpdateUserAnnounced(t *testing.T, s sessiond.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := watch(t, ctx, s)
	if changes == nil {
		t.Skip("store has no change feed")
	}
	u := newUser("99999999-9999-4999-8999-999999999999", "fay@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	u.NeedsOnboarding = false
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changes, feedForm(s, sessiond.Change{UserID: u.ID}))
}

// testListUsers checks the paging contract: ID order, every matching user
// exactly once over the pages, filters by ASCII-case-insensitive email
// prefix and by tenant, an empty cursor only at the end.
func testListUsers(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	var all []*sessiond.User
	for i := range 25 {
		u := newUser(fmt.Sprintf("u-%03d", (i*7)%25), fmt.Sprintf("user%02d@example.com", i))
		if i%3 == 0 {
			u.Email = fmt.Sprintf("Admin%02d@Example.com", i)
			u.EmailKey = sessiond.LowerASCII(u.Email)
		}
		if i%2 == 0 {
			u.TenantID = "t2"
		}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		all = append(all, u)
	}
	for _, c := range []struct {
		name string
		f    sessiond.UserFilter
	}{
		{"every user", sessiond.UserFilter{}},
		{"email prefix in another case", sessiond.UserFilter{EmailPrefix: "aDMIN"}},
		{"tenant", sessiond.UserFilter{TenantID: "t2"}},
		{"tenant and prefix", sessiond.UserFilter{TenantID: "t2", EmailPrefix: "user"}},
		{"nothing matches", sessiond.UserFilter{EmailPrefix: "zed"}},
	} {
		var want []string
		for _, u := range all {
			if c.f.MatchUser(u) {
				want = append(want, u.ID)
			}
		}
		sortStrings(want)
		for _, limit := range []int{1, 4, 100} {
			f := c.f
			f.Limit = limit
			var got []string
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatalf("%s, limit %d: no end after 100 pages", c.name, limit)
				}
				list, next, err := s.ListUsers(ctx, f)
				if err != nil {
					t.Fatalf("%s: ListUsers(%+v): %v", c.name, f, err)
				}
				if len(list) > limit {
					t.Fatalf("%s: ListUsers(limit %d) returned %d users", c.name, limit, len(list))
				}
				for _, u := range list {
					got = append(got, u.ID)
				}
				if next == "" {
					break
				}
				f.After = next
			}
			if !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
				t.Fatalf("%s, limit %d: pages list %v; want %v", c.name, limit, got, want)
			}
		}
	}
	list, _, err := s.ListUsers(ctx, sessiond.UserFilter{EmailPrefix: "admin00", Limit: 10})
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], all[0]) {
		t.Fatalf("ListUsers(admin00) = %+v, %v; want exactly %+v", list, err, all[0])
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// watch starts the store's change feed and returns its channel once it is
// live, or nil when the store has none.
func watch(t *testing.T, ctx context.Context, s sessiond.Store) <-chan sessiond.Change {
	t.Helper()
	w, ok := s.(sessiond.ChangeWatcher)
	if !ok {
		return nil
	}
	connected := make(chan struct{})
	changes := make(chan sessiond.Change, 64)
	done := make(chan error, 1)
	go func() {
		done <- w.WatchChanges(ctx, func() { close(connected) }, func(c sessiond.Change) {
			select {
			case changes <- c:
			default:
			}
		})
	}()
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("WatchChanges ended before connecting: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("WatchChanges did not connect in 10s")
	}
	t.Cleanup(func() { <-done })
	return changes
}

func waitChange(t *testing.T, changes <-chan sessiond.Change, want sessiond.Change) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-changes:
			if c == want {
				return
			}
		case <-deadline:
			t.Fatalf("change %v not reported within 10s", want)
		}
	}
}
