package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// RunUpgrade checks that an upgraded store serves the sessions an earlier
// version of it wrote. newStores returns two stores on the same, fresh
// data: before writes sessions as the earlier version did, after is the
// current store; each case writes with before (and with after, for the
// sessions that a user holds in both forms), then reads, changes and
// deletes through after alone. Run the whole suite against a store that
// writes the earlier form too: these cases add the mixes it cannot make.
func RunUpgrade(t *testing.T, newStores func(t *testing.T) (before, after sessiond.Store)) {
	for _, c := range upgradeCases {
		t.Run(c.name, func(t *testing.T) {
			base = time.Now().UTC().Truncate(time.Microsecond)
			before, after := newStores(t)
			c.run(t, before, after)
		})
	}
}

var upgradeCases = []struct {
	name string
	run  func(t *testing.T, before, after sessiond.Store)
}{
	{"EarlierSessionsReadBackByHashIDAndUser", upgradeRead},
	{"EarlierSessionsTakeTouchesDataFlagsAndRotation", upgradeWrite},
	{"TheCapCountsAndEvictsEarlierSessions", upgradeCap},
	{"UserTenantAndSingleRevocationsDeleteBothForms", upgradeRevoke},
	{"ThePurgeDeletesEarlierSessionsPastEitherDeadline", upgradePurge},
}

// mixed creates two sessions of user with before and two with after and
// returns them in that order; tenant "" is newSession's.
func mixed(t *testing.T, before, after sessiond.Store, user, tenant string) []*sessiond.Session {
	t.Helper()
	var out []*sessiond.Session
	for i, s := range []sessiond.Store{before, before, after, after} {
		sess := newSession(t, user)
		if tenant != "" {
			sess.TenantID = tenant
		}
		sess.LastActivity = base.Add(time.Duration(i+1) * time.Minute)
		if i == 1 {
			sess.Data, sess.Flags = nil, nil // the other shape of each field
		}
		mustCreate(t, s, sess)
		out = append(out, sess)
	}
	return out
}

func upgradeRead(t *testing.T, before, after sessiond.Store) {
	ctx := context.Background()
	all := mixed(t, before, after, "alice", "")
	for _, want := range all {
		got, err := after.SessionByTokenHash(ctx, want.TokenHash)
		if err != nil {
			t.Fatalf("SessionByTokenHash of %s: %v", want.ID, err)
		}
		wantSession(t, got, want)
		if got, err = after.SessionByID(ctx, want.ID); err != nil {
			t.Fatalf("SessionByID of %s: %v", want.ID, err)
		}
		wantSession(t, got, want)
		if r, ok := after.(sessiond.SessionUserReader); ok {
			got, u, err := r.SessionAndUserByTokenHash(ctx, want.TokenHash)
			if err != nil || u != nil {
				t.Fatalf("SessionAndUserByTokenHash of %s: user %v, %v; want no user, nil", want.ID, u, err)
			}
			wantSession(t, got, want)
		}
	}
	list, err := after.SessionsByUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	got, want := idsOf(list), idsOf(all)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SessionsByUser = %v, want %v (both forms)", got, want)
	}
}

func idsOf(list []*sessiond.Session) []string {
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	return ids
}

func upgradeWrite(t *testing.T, before, after sessiond.Store) {
	ctx := context.Background()
	old := newSession(t, "u1")
	mustCreate(t, before, old)
	later := old.LastActivity.Add(time.Hour)
	if err := after.TouchSessions(ctx, []sessiond.Touch{{ID: old.ID, At: later}, {ID: old.ID, At: old.LastActivity}}); err != nil {
		t.Fatal(err)
	}
	data := json.RawMessage(`{"step":"done"}`)
	wantErr(t, "stale version", after.UpdateSessionData(ctx, old.ID, data, old.Version-1), sessiond.ErrConflict)
	if err := after.UpdateSessionData(ctx, old.ID, data, old.Version); err != nil {
		t.Fatal(err)
	}
	if err := after.SetSessionFlags(ctx, old.ID, []string{"agent_changed"}); err != nil {
		t.Fatal(err)
	}
	want := *old
	want.LastActivity, want.Data, want.Version, want.Flags = later, data, old.Version+1, []string{"agent_changed"}
	got, err := after.SessionByTokenHash(ctx, old.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	wantSession(t, got, &want)
	if err := after.UpdateSessionData(ctx, old.ID, nil, want.Version); err != nil {
		t.Fatal(err)
	}
	if got, err = after.SessionByID(ctx, old.ID); err != nil || got.Data != nil {
		t.Fatalf("after clearing the data: %v, %v", got, err)
	}

	n := newSession(t, "u1")
	n.ID = old.ID // a rotation that keeps the public id
	if err := after.RotateSession(ctx, old.ID, n); err != nil {
		t.Fatal(err)
	}
	_, err = after.SessionByTokenHash(ctx, old.TokenHash)
	wantErr(t, "the earlier session's token after rotation", err, sessiond.ErrNotFound)
	if got, err = after.SessionByTokenHash(ctx, n.TokenHash); err != nil {
		t.Fatal(err)
	}
	wantSession(t, got, n)
	list, err := after.SessionsByUser(ctx, "u1")
	if err != nil || len(list) != 1 {
		t.Fatalf("SessionsByUser after rotation = %d sessions, %v; want 1", len(list), err)
	}
}

func upgradeCap(t *testing.T, before, after sessiond.Store) {
	ctx := context.Background()
	all := mixed(t, before, after, "u1", "") // the first is the least recently active
	_, err := after.CreateSessionLimited(ctx, newSession(t, "u1"), liveLimit(4, false))
	wantErr(t, "a fifth session at a cap of 4", err, sessiond.ErrLimitReached)
	evicted, err := after.CreateSessionLimited(ctx, newSession(t, "u1"), liveLimit(4, true))
	if err != nil || len(evicted) != 1 || evicted[0].ID != all[0].ID {
		t.Fatalf("evicted %v, %v; want only the earlier session %s", evicted, err, all[0].ID)
	}
	_, err = after.SessionByID(ctx, all[0].ID)
	wantErr(t, "the evicted earlier session", err, sessiond.ErrNotFound)
	if list, err := after.SessionsByUser(ctx, "u1"); err != nil || len(list) != 4 {
		t.Fatalf("%d sessions after eviction (%v), want 4", len(list), err)
	}
}

func upgradeRevoke(t *testing.T, before, after sessiond.Store) {
	ctx := context.Background()
	alice := mixed(t, before, after, "alice", "")
	if n, err := after.DeleteUserSessions(ctx, "alice", alice[1].ID); err != nil || n != 3 {
		t.Fatalf("DeleteUserSessions = %d, %v; want 3 (both forms but the exception)", n, err)
	}
	if _, err := after.SessionByID(ctx, alice[1].ID); err != nil {
		t.Fatalf("the exception went: %v", err)
	}
	if err := after.DeleteSession(ctx, alice[1].ID); err != nil {
		t.Fatal(err)
	}
	if list, err := after.SessionsByUser(ctx, "alice"); err != nil || len(list) != 0 {
		t.Fatalf("SessionsByUser after revoking all = %v, %v", list, err)
	}
	acme := append(mixed(t, before, after, "bob", "acme"), mixed(t, before, after, "carol", "acme")...)
	other := newSession(t, "dave")
	mustCreate(t, before, other)
	if n, err := after.DeleteTenantSessions(ctx, "acme"); err != nil || n != len(acme) {
		t.Fatalf("DeleteTenantSessions = %d, %v; want %d (both forms)", n, err, len(acme))
	}
	for _, sess := range acme {
		_, err := after.SessionByTokenHash(ctx, sess.TokenHash)
		wantErr(t, "a session of the revoked tenant", err, sessiond.ErrNotFound)
	}
	if _, err := after.SessionByID(ctx, other.ID); err != nil {
		t.Fatalf("another tenant's session went: %v", err)
	}
}

func upgradePurge(t *testing.T, before, after sessiond.Store) {
	ctx := context.Background()
	now := base.Add(48 * time.Hour)
	idleBefore := now.Add(-2 * time.Hour)
	var gone []*sessiond.Session
	for i, w := range []sessiond.Store{before, before, after, after} {
		sess := newSession(t, "u1")
		if i%2 == 0 {
			sess.ExpiresAt, sess.LastActivity = now.Add(-time.Second), now
		} else {
			sess.ExpiresAt, sess.LastActivity = now.Add(time.Hour), idleBefore.Add(-time.Second)
		}
		mustCreate(t, w, sess)
		gone = append(gone, sess)
	}
	live := newSession(t, "u1")
	live.ExpiresAt, live.LastActivity = now.Add(time.Hour), idleBefore.Add(time.Second)
	mustCreate(t, before, live)
	if n, err := after.DeleteExpiredSessions(ctx, now, idleBefore, 100); err != nil || n != len(gone) {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want %d", n, err, len(gone))
	}
	for _, sess := range gone {
		_, err := after.SessionByID(ctx, sess.ID)
		wantErr(t, "a purged session", err, sessiond.ErrNotFound)
	}
	if list, err := after.SessionsByUser(ctx, "u1"); err != nil || len(list) != 1 || list[0].ID != live.ID {
		t.Fatalf("SessionsByUser after the purge = %v, %v; want only %s", idsOf(list), err, live.ID)
	}
}
