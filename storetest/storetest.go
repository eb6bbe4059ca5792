// Package storetest is the conformance suite every sessiond store passes. A
// store's test calls Run with a function that returns a new, empty store;
// each case names the rule of the sessiond.Store contract it checks.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// Run runs every case against a fresh store from newStore. newStore should
// register its own cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Each case's "now" is the wall clock when it starts: a store
			// may expire keys by the wall clock (Redis deadlines), and a
			// suite that runs for minutes on a busy machine must not hand
			// its late cases times already in the past.
			base = time.Now().UTC().Truncate(time.Microsecond)
			c.run(t, newStore(t))
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, s sessiond.Store)
}{
	{"CreatedSessionReadsBackByHashAndID", testRoundTrip},
	{"UnknownSessionIsErrNotFound", testNotFound},
	{"DuplicateIDOrTokenHashIsErrConflict", testCreateConflict},
	{"SessionsByUserListsOnlyThatUser", testSessionsByUser},
	{"TouchOnlyMovesLastActivityForward", testTouchForward},
	{"TouchNeverResurrectsADeletedSession", testTouchNoResurrect},
	{"UpdateDataIsConditionalOnVersion", testUpdateData},
	{"RotateReplacesAtomically", testRotate},
	{"RotateOfMissingSessionInsertsNothing", testRotateMissing},
	{"DeleteSessionThenItIsGone", testDelete},
	{"DeleteUserSessionsKeepsTheException", testDeleteUser},
	{"DeleteExpiredHonoursBothDeadlinesAndTheLimit", testDeleteExpired},
	{"ConcurrentWritersLoseNothing", testConcurrentWriters},
	{"UserRoundTripAndUniqueEmailKey", testUsers},
	{"SessionAndUserReadTogether", testSessionAndUser},
	{"UpdateUserOfMissingUserIsErrNotFound", testUpdateMissingUser},
	{"UpdateUserIsConditionalOnVersion", testUpdateUserVersion},
	{"ParallelUpdatesFromOneReadStoreExactlyOne", testUpgradeRace},
	{"UpdateUserIsAnnouncedOnTheFeed", testUpdateUserAnnounced},
	{"DeleteUserFreesTheEmailAndIsAnnounced", testDeleteUserRecord},
	{"ListUsersPagesInIDOrderWithFilters", testListUsers},
	{"ChangeWatcherReportsDeletesAndUpdates", testChangeWatcher},
	{"CapRefusesAtTheLimitCountingOnlyLiveSessions", testCapRefuse},
	{"CapEvictsTheLeastRecentlyActive", testCapEvict},
	{"CapHoldsUnderParallelCreates", testCapParallel},
	{"SetSessionFlagsReplacesFlagsOfExistingSessionsOnly", testSetFlags},
	{"DeleteTenantSessionsDeletesOnlyThatTenant", testDeleteTenant},
	{"CountersIncrementExpireAndReset", testCounters},
	{"ReserveCounterHonoursTheBackoffUnderParallelCalls_SEC29", testReserveParallel},
	{"ParallelIncrementsAreAllCounted", testIncrementParallel},
	{"EventsComeBackNewestFirstAndAgeOut", testEvents},
	{"SeenDeviceIsNewOncePerUser", testDevices},
	{"ClaimMigrationHasOneWinnerUnderParallelCalls", testClaimParallel},
	{"FinishedMigrationReadsBackAndBlocksNewClaims", testMigrationLifecycle},
	{"ExpiredMigrationIsClaimedAfresh", testMigrationExpiry},
}

// base is the running case's "now": the wall clock when the case starts, to the
// microsecond (the precision every store keeps). It is not a fixed date
// because a store may drop sessions whose absolute deadline has passed by
// the wall clock (Redis key TTLs).
var base = time.Now().UTC().Truncate(time.Microsecond)

func newSession(t *testing.T, userID string) *sessiond.Session {
	t.Helper()
	id, err := sessiond.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var h sessiond.TokenHash
	rand.Read(h[:])
	return &sessiond.Session{
		ID:              id,
		TokenHash:       h,
		UserID:          userID,
		TenantID:        "tenant-" + userID,
		IPAddress:       "203.0.113.7",
		UserAgent:       "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		CreatedAt:       base,
		LastActivity:    base.Add(time.Minute),
		ExpiresAt:       base.Add(24 * time.Hour),
		AuthenticatedAt: base,
		Data:            json.RawMessage(`{"step":"profile"}`),
		Version:         3,
		Flags:           []string{"new_device"},
	}
}

func mustCreate(t *testing.T, s sessiond.Store, sess *sessiond.Session) {
	t.Helper()
	if err := s.CreateSession(context.Background(), sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantSession(t *testing.T, got, want *sessiond.Session) {
	t.Helper()
	g, w := *got, *want
	// Data is compared as JSON, not as bytes: a store may re-encode it.
	if !jsonEqual(g.Data, w.Data) {
		t.Fatalf("Data = %s, want %s", g.Data, w.Data)
	}
	g.Data, w.Data = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("session differs:\n got %+v\nwant %+v", g, w)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func testRoundTrip(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	want := newSession(t, "u1")
	mustCreate(t, s, want)
	got, err := s.SessionByTokenHash(ctx, want.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	wantSession(t, got, want)
	got, err = s.SessionByID(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSession(t, got, want)

	bare := newSession(t, "u1")
	bare.Data, bare.Flags, bare.Version = nil, nil, 0
	mustCreate(t, s, bare)
	got, err = s.SessionByID(ctx, bare.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSession(t, got, bare)
}

func testNotFound(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	_, err := s.SessionByTokenHash(ctx, sessiond.HashToken("never-issued"))
	wantErr(t, "SessionByTokenHash", err, sessiond.ErrNotFound)
	_, err = s.SessionByID(ctx, "00000000-0000-4000-8000-000000000000")
	wantErr(t, "SessionByID", err, sessiond.ErrNotFound)
	list, err := s.SessionsByUser(ctx, "nobody")
	if err != nil || len(list) != 0 {
		t.Fatalf("SessionsByUser(nobody) = %d sessions, %v; want none, nil", len(list), err)
	}
}

func testCreateConflict(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	a := newSession(t, "u1")
	mustCreate(t, s, a)

	sameID := newSession(t, "u2")
	sameID.ID = a.ID
	wantErr(t, "same ID", s.CreateSession(ctx, sameID), sessiond.ErrConflict)

	sameHash := newSession(t, "u2")
	sameHash.TokenHash = a.TokenHash
	wantErr(t, "same token hash", s.CreateSession(ctx, sameHash), sessiond.ErrConflict)

	got, err := s.SessionByTokenHash(ctx, a.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	wantSession(t, got, a)
}

func testSessionsByUser(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	var want []string
	for range 3 {
		sess := newSession(t, "alice")
		mustCreate(t, s, sess)
		want = append(want, sess.ID)
	}
	mustCreate(t, s, newSession(t, "bob"))
	list, err := s.SessionsByUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sess := range list {
		if sess.UserID != "alice" {
			t.Fatalf("listed a session of %q", sess.UserID)
		}
		got = append(got, sess.ID)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SessionsByUser = %v, want %v", got, want)
	}
}

func testTouchForward(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	sess := newSession(t, "u1")
	mustCreate(t, s, sess)
	later := sess.LastActivity.Add(time.Hour)
	if err := s.TouchSessions(ctx, []sessiond.Touch{{ID: sess.ID, At: later}}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSessions(ctx, []sessiond.Touch{{ID: sess.ID, At: sess.LastActivity}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionByID(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastActivity.Equal(later) {
		t.Fatalf("LastActivity = %v, want %v (an older touch must not move it back)", got.LastActivity, later)
	}
}

func testTouchNoResurrect(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	sess := newSession(t, "u1")
	mustCreate(t, s, sess)
	if err := s.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSessions(ctx, []sessiond.Touch{{ID: sess.ID, At: base.Add(time.Hour)}}); err != nil {
		t.Fatalf("touching a deleted session: %v, want nil", err)
	}
	_, err := s.SessionByID(ctx, sess.ID)
	wantErr(t, "after touch of deleted session", err, sessiond.ErrNotFound)
	_, err = s.SessionByTokenHash(ctx, sess.TokenHash)
	wantErr(t, "after touch of deleted session", err, sessiond.ErrNotFound)
}

func testUpdateData(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	sess := newSession(t, "u1")
	mustCreate(t, s, sess)
	newData := json.RawMessage(`{"step":"done"}`)
	wantErr(t, "stale version", s.UpdateSessionData(ctx, sess.ID, newData, sess.Version-1), sessiond.ErrConflict)
	if err := s.UpdateSessionData(ctx, sess.ID, newData, sess.Version); err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionByID(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != sess.Version+1 || !jsonEqual(got.Data, newData) {
		t.Fatalf("after update: version %d data %s; want %d %s", got.Version, got.Data, sess.Version+1, newData)
	}
	wantErr(t, "replayed version", s.UpdateSessionData(ctx, sess.ID, newData, sess.Version), sessiond.ErrConflict)
	wantErr(t, "missing session", s.UpdateSessionData(ctx, "00000000-0000-4000-8000-000000000000", newData, 0), sessiond.ErrNotFound)
}

func testRotate(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	old := newSession(t, "u1")
	mustCreate(t, s, old)
	n := newSession(t, "u1")
	n.ID = old.ID // rotation may keep the public id
	if err := s.RotateSession(ctx, old.ID, n); err != nil {
		t.Fatal(err)
	}
	_, err := s.SessionByTokenHash(ctx, old.TokenHash)
	wantErr(t, "old token after rotation", err, sessiond.ErrNotFound)
	got, err := s.SessionByTokenHash(ctx, n.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	wantSession(t, got, n)

	other := newSession(t, "u1")
	if err := s.RotateSession(ctx, n.ID, other); err != nil {
		t.Fatal(err)
	}
	_, err = s.SessionByID(ctx, n.ID)
	wantErr(t, "rotated-away id", err, sessiond.ErrNotFound)
}

func testRotateMissing(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	gone := newSession(t, "u1")
	n := newSession(t, "u1")
	wantErr(t, "rotate missing", s.RotateSession(ctx, gone.ID, n), sessiond.ErrNotFound)
	_, err := s.SessionByTokenHash(ctx, n.TokenHash)
	wantErr(t, "new session after failed rotation", err, sessiond.ErrNotFound)
}

func testDelete(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	sess := newSession(t, "u1")
	keep := newSession(t, "u1")
	mustCreate(t, s, sess)
	mustCreate(t, s, keep)
	if err := s.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.SessionByTokenHash(ctx, sess.TokenHash)
	wantErr(t, "deleted by hash", err, sessiond.ErrNotFound)
	_, err = s.SessionByID(ctx, sess.ID)
	wantErr(t, "deleted by id", err, sessiond.ErrNotFound)
	wantErr(t, "delete twice", s.DeleteSession(ctx, sess.ID), sessiond.ErrNotFound)
	list, err := s.SessionsByUser(ctx, "u1")
	if err != nil || len(list) != 1 || list[0].ID != keep.ID {
		t.Fatalf("SessionsByUser after delete = %v, %v; want only %s", list, err, keep.ID)
	}
}

func testDeleteUser(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	var all []*sessiond.Session
	for range 4 {
		sess := newSession(t, "alice")
		mustCreate(t, s, sess)
		all = append(all, sess)
	}
	bob := newSession(t, "bob")
	mustCreate(t, s, bob)
	n, err := s.DeleteUserSessions(ctx, "alice", all[0].ID)
	if err != nil || n != 3 {
		t.Fatalf("DeleteUserSessions = %d, %v; want 3, nil", n, err)
	}
	if _, err := s.SessionByID(ctx, all[0].ID); err != nil {
		t.Fatalf("the exception was deleted: %v", err)
	}
	if _, err := s.SessionByID(ctx, bob.ID); err != nil {
		t.Fatalf("another user's session was deleted: %v", err)
	}
	n, err = s.DeleteUserSessions(ctx, "alice", "")
	if err != nil || n != 1 {
		t.Fatalf("DeleteUserSessions without exception = %d, %v; want 1, nil", n, err)
	}
	n, err = s.DeleteUserSessions(ctx, "alice", "")
	if err != nil || n != 0 {
		t.Fatalf("DeleteUserSessions of nobody = %d, %v; want 0, nil", n, err)
	}
}

func testDeleteExpired(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	now := base.Add(48 * time.Hour)
	idleBefore := now.Add(-2 * time.Hour)
	var expired []string
	for i := range 7 {
		sess := newSession(t, "u1")
		if i%2 == 0 {
			sess.ExpiresAt = now.Add(-time.Second) // absolute deadline passed
			sess.LastActivity = now
		} else {
			sess.ExpiresAt = now.Add(time.Hour)
			sess.LastActivity = idleBefore.Add(-time.Second) // idle too long
		}
		mustCreate(t, s, sess)
		expired = append(expired, sess.ID)
	}
	live := newSession(t, "u1")
	live.ExpiresAt = now.Add(time.Hour)
	live.LastActivity = idleBefore.Add(time.Second)
	mustCreate(t, s, live)

	n, err := s.DeleteExpiredSessions(ctx, now, idleBefore, 5)
	if err != nil || n != 5 {
		t.Fatalf("first batch = %d, %v; want 5 (the limit), nil", n, err)
	}
	n, err = s.DeleteExpiredSessions(ctx, now, idleBefore, 5)
	if err != nil || n != 2 {
		t.Fatalf("second batch = %d, %v; want 2, nil", n, err)
	}
	for _, id := range expired {
		_, err := s.SessionByID(ctx, id)
		wantErr(t, "expired session after purge", err, sessiond.ErrNotFound)
	}
	if _, err := s.SessionByID(ctx, live.ID); err != nil {
		t.Fatalf("live session purged: %v", err)
	}
}

func testConcurrentWriters(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	const writers, each = 8, 20
	shared := newSession(t, "shared")
	shared.Version = 0
	mustCreate(t, s, shared)
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*3)
	updates := make(chan struct{}, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				sess := newSession(t, fmt.Sprintf("w%d", w))
				if err := s.CreateSession(ctx, sess); err != nil {
					errs <- fmt.Errorf("create: %w", err)
					continue
				}
				if err := s.TouchSessions(ctx, []sessiond.Touch{{ID: shared.ID, At: base.Add(time.Duration(i) * time.Second)}}); err != nil {
					errs <- fmt.Errorf("touch: %w", err)
				}
				// Optimistic update: read the version, write on it; a
				// conflict is the contract working, anything else a bug.
				cur, err := s.SessionByID(ctx, shared.ID)
				if err != nil {
					errs <- fmt.Errorf("read: %w", err)
					continue
				}
				err = s.UpdateSessionData(ctx, shared.ID, json.RawMessage(`{}`), cur.Version)
				switch {
				case err == nil:
					updates <- struct{}{}
				case !errors.Is(err, sessiond.ErrConflict):
					errs <- fmt.Errorf("update: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		list, err := s.SessionsByUser(ctx, fmt.Sprintf("w%d", w))
		if err != nil || len(list) != each {
			t.Fatalf("writer %d: %d sessions, %v; want %d", w, len(list), err, each)
		}
	}
	got, err := s.SessionByID(ctx, shared.ID)
	if err != nil {
		t.Fatal(err)
	}
	if int(got.Version) != len(updates) {
		t.Fatalf("version %d after %d successful updates: an update was lost or double-counted", got.Version, len(updates))
	}
}

func newUser(id, key string) *sessiond.User {
	return &sessiond.User{
		ID: id, Email: key, EmailKey: key, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5",
		TenantID: "t1", NeedsOnboarding: true, OnboardingStep: "profile",
		Attributes: json.RawMessage(`{"plan":"pro","roles":["admin"]}`),
		CreatedAt:  base, UpdatedAt: base,
	}
}

func testUsers(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	u := newUser("11111111-1111-4111-8111-111111111111", "ann@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByEmailKey(ctx, "ann@example.com")
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("UserByEmailKey = %+v, %v; want %+v", got, err, u)
	}
	got, err = s.UserByID(ctx, u.ID)
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("UserByID = %+v, %v; want %+v", got, err, u)
	}
	dup := newUser("22222222-2222-4222-8222-222222222222", "ann@example.com")
	wantErr(t, "duplicate email key", s.CreateUser(ctx, dup), sessiond.ErrConflict)
	_, err = s.UserByEmailKey(ctx, "nobody@example.com")
	wantErr(t, "unknown email", err, sessiond.ErrNotFound)

	u.Disabled, u.OnboardingStep, u.UpdatedAt = true, "done", base.Add(time.Hour)
	u.Attributes = json.RawMessage(`{"plan":"free"}`)
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err = s.UserByID(ctx, u.ID)
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("after UpdateUser = %+v, %v; want %+v", got, err, u)
	}
	other := newUser("33333333-3333-4333-8333-333333333333", "bea@example.com")
	if err := s.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	other.EmailKey = "ann@example.com"
	wantErr(t, "update to a taken email key", s.UpdateUser(ctx, other), sessiond.ErrConflict)
}

func testUpdateMissingUser(t *testing.T, s sessiond.Store) {
	u := newUser("44444444-4444-4444-8444-444444444444", "ghost@example.com")
	wantErr(t, "UpdateUser", s.UpdateUser(context.Background(), u), sessiond.ErrNotFound)
}

func testChangeWatcher(t *testing.T, s sessiond.Store) {
	w, ok := s.(sessiond.ChangeWatcher)
	if !ok {
		t.Skip("store has no change feed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	connected := make(chan struct{})
	changes := make(chan sessiond.Change, 16)
	done := make(chan error, 1)
	go func() {
		done <- w.WatchChanges(ctx, func() { close(connected) }, func(c sessiond.Change) { changes <- c })
	}()
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("WatchChanges ended before connecting: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("WatchChanges did not connect in 10s")
	}
	a, b := newSession(t, "u1"), newSession(t, "u2")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	if err := s.DeleteSession(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUserSessions(ctx, "u2", ""); err != nil {
		t.Fatal(err)
	}
	want := map[sessiond.Change]bool{feedForm(s, sessiond.Change{SessionID: a.ID}): true, feedForm(s, sessiond.Change{UserID: "u2"}): true}
	if p, ok := s.(sessiond.FeedProber); ok {
		// A probe travels the same feed, after the changes before it.
		if err := p.ProbeFeed(ctx, "node.1"); err != nil {
			t.Fatal(err)
		}
		want[sessiond.Change{Probe: "node.1"}] = true
	}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case c := <-changes:
			delete(want, c)
		case <-deadline:
			t.Fatalf("changes not reported within 10s: %v", want)
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("WatchChanges after cancel: %v", err)
	}
}

// feedForm returns c as the store's change feed carries it: concealed by
// a ChangeConcealer.
func feedForm(s sessiond.Store, c sessiond.Change) sessiond.Change {
	if cc, ok := s.(sessiond.ChangeConcealer); ok {
		return cc.ConcealChange(c)
	}
	return c
}

func liveLimit(max int, evict bool) sessiond.Limit {
	return sessiond.Limit{Max: max, Evict: evict, Now: base.Add(time.Hour), IdleBefore: base.Add(-time.Hour)}
}

func testCapRefuse(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	dead := newSession(t, "u1")
	dead.ExpiresAt = base // expired at liveLimit's Now: does not count
	mustCreate(t, s, dead)
	for range 2 {
		if _, err := s.CreateSessionLimited(ctx, newSession(t, "u1"), liveLimit(2, false)); err != nil {
			t.Fatal(err)
		}
	}
	extra := newSession(t, "u1")
	_, err := s.CreateSessionLimited(ctx, extra, liveLimit(2, false))
	wantErr(t, "third session at a cap of 2", err, sessiond.ErrLimitReached)
	_, err = s.SessionByID(ctx, extra.ID)
	wantErr(t, "refused session", err, sessiond.ErrNotFound)
	if _, err := s.CreateSessionLimited(ctx, newSession(t, "u2"), liveLimit(2, false)); err != nil {
		t.Fatalf("another user is not capped by u1's sessions: %v", err)
	}
	if _, err := s.CreateSessionLimited(ctx, newSession(t, "u1"), liveLimit(0, false)); err != nil {
		t.Fatalf("Max 0 means no cap: %v", err)
	}
}

func testCapEvict(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	var made []*sessiond.Session
	for i := range 3 {
		sess := newSession(t, "u1")
		sess.LastActivity = base.Add(time.Duration(i) * time.Minute)
		if _, err := s.CreateSessionLimited(ctx, sess, liveLimit(3, true)); err != nil {
			t.Fatal(err)
		}
		made = append(made, sess)
	}
	made[0].LastActivity = base.Add(10 * time.Minute) // now the most recent
	if err := s.TouchSessions(ctx, []sessiond.Touch{{ID: made[0].ID, At: made[0].LastActivity}}); err != nil {
		t.Fatal(err)
	}
	n := newSession(t, "u1")
	evicted, err := s.CreateSessionLimited(ctx, n, liveLimit(3, true))
	if err != nil {
		t.Fatal(err)
	}
	if len(evicted) != 1 || evicted[0].ID != made[1].ID {
		t.Fatalf("evicted %v, want only the least recently active %s", evicted, made[1].ID)
	}
	_, err = s.SessionByID(ctx, made[1].ID)
	wantErr(t, "evicted session", err, sessiond.ErrNotFound)
	list, _ := s.SessionsByUser(ctx, "u1")
	if len(list) != 3 {
		t.Fatalf("%d sessions after eviction, want 3", len(list))
	}
}

func testCapParallel(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	for _, evict := range []bool{false, true} {
		user := fmt.Sprintf("parallel-%v", evict)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				_, err := s.CreateSessionLimited(ctx, newSession(t, user), liveLimit(3, evict))
				if err != nil && !errors.Is(err, sessiond.ErrLimitReached) {
					t.Errorf("CreateSessionLimited: %v", err)
				}
			})
		}
		wg.Wait()
		list, err := s.SessionsByUser(ctx, user)
		if err != nil || len(list) != 3 {
			t.Fatalf("evict=%v: %d sessions after 20 parallel creates at a cap of 3 (%v)", evict, len(list), err)
		}
	}
}

func testSetFlags(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	sess := newSession(t, "u1")
	mustCreate(t, s, sess)
	if err := s.SetSessionFlags(ctx, sess.ID, []string{"agent_changed", "network_changed"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionByID(ctx, sess.ID)
	if err != nil || !reflect.DeepEqual(got.Flags, []string{"agent_changed", "network_changed"}) {
		t.Fatalf("flags %v, %v", got.Flags, err)
	}
	if err := s.SetSessionFlags(ctx, sess.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SessionByID(ctx, sess.ID); len(got.Flags) != 0 {
		t.Fatalf("flags %v after clearing", got.Flags)
	}
	wantErr(t, "flags of a missing session", s.SetSessionFlags(ctx, "00000000-0000-4000-8000-000000000000", []string{"x"}), sessiond.ErrNotFound)
}

func testDeleteTenant(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	a, b, c := newSession(t, "u1"), newSession(t, "u2"), newSession(t, "u3")
	a.TenantID, b.TenantID, c.TenantID = "acme", "acme", "other"
	for _, x := range []*sessiond.Session{a, b, c} {
		mustCreate(t, s, x)
	}
	n, err := s.DeleteTenantSessions(ctx, "acme")
	if err != nil || n != 2 {
		t.Fatalf("DeleteTenantSessions = %d, %v; want 2", n, err)
	}
	if _, err := s.SessionByID(ctx, c.ID); err != nil {
		t.Fatalf("another tenant's session went: %v", err)
	}
}

func testCounters(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		n, err := s.IncrementCounter(ctx, "k", base.Add(time.Duration(i)*time.Second), time.Minute)
		if err != nil || n != int64(i) {
			t.Fatalf("increment %d = %d, %v", i, n, err)
		}
	}
	n, last, err := s.Counter(ctx, "k", base.Add(10*time.Second))
	if err != nil || n != 3 || !last.Equal(base.Add(3*time.Second)) {
		t.Fatalf("Counter = %d, %v, %v; want 3 at %v", n, last, err, base.Add(3*time.Second))
	}
	// It expires ttl after the last increment, and then starts over.
	if n, _, _ := s.Counter(ctx, "k", base.Add(3*time.Second+time.Minute)); n != 0 {
		t.Fatalf("expired counter reads %d, want 0", n)
	}
	if n, _ := s.IncrementCounter(ctx, "k", base.Add(2*time.Minute), time.Minute); n != 1 {
		t.Fatalf("increment after expiry = %d, want 1", n)
	}
	if err := s.ResetCounter(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.Counter(ctx, "k", base.Add(2*time.Minute)); n != 0 {
		t.Fatalf("reset counter reads %d", n)
	}
	if err := s.ResetCounter(ctx, "never"); err != nil {
		t.Fatalf("reset of a missing counter: %v", err)
	}
}

func testReserveParallel(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	b := sessiond.Backoff{Free: 5, Base: time.Second, Max: 15 * time.Minute}
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ok, err := s.ReserveCounter(ctx, "guess", base, time.Hour, b)
			if err != nil {
				t.Error(err)
			}
			if ok {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if granted.Load() != 5 {
		t.Fatalf("20 parallel reservations with 5 free attempts: %d granted, want 5", granted.Load())
	}
	// The sixth waits Base after the fifth, the seventh twice that.
	for _, c := range []struct {
		after time.Duration
		want  bool
	}{{999 * time.Millisecond, false}, {time.Second, true}, {2*time.Second + 999*time.Millisecond, false}, {3 * time.Second, true}} {
		if ok, err := s.ReserveCounter(ctx, "guess", base.Add(c.after), time.Hour, b); err != nil || ok != c.want {
			t.Fatalf("reservation %v after the burst: %v, %v; want %v", c.after, ok, err, c.want)
		}
	}
	if n, _, _ := s.Counter(ctx, "guess", base.Add(3*time.Second)); n != 7 {
		t.Fatalf("count %d after 7 granted reservations", n)
	}
	// A release takes one back; an expired counter starts over.
	if err := s.ReleaseCounter(ctx, "guess"); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.Counter(ctx, "guess", base.Add(3*time.Second)); n != 6 {
		t.Fatalf("count %d after a release, want 6", n)
	}
	if ok, _ := s.ReserveCounter(ctx, "guess", base.Add(2*time.Hour), time.Hour, b); !ok {
		t.Fatal("a reservation on an expired counter was refused")
	}
	if n, _, _ := s.Counter(ctx, "guess", base.Add(2*time.Hour)); n != 1 {
		t.Fatalf("count %d after expiry and one reservation, want 1", n)
	}
	if err := s.ReleaseCounter(ctx, "never"); err != nil {
		t.Fatalf("release of a missing counter: %v", err)
	}
}

func testIncrementParallel(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 18 {
		wg.Go(func() {
			if _, err := s.IncrementCounter(ctx, "failures", base, time.Hour); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, _, _ := s.Counter(ctx, "failures", base); n != 18 {
		t.Fatalf("18 parallel increments counted %d", n)
	}
}

func testEvents(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	for i := range 5 {
		e := &sessiond.Event{
			ID: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i), Type: sessiond.EventLogin, UserID: "u1",
			SessionID: "s", IPAddress: "192.0.2.1", UserAgent: "ua", At: base.Add(time.Duration(i) * time.Hour),
			Detail: map[string]string{"n": fmt.Sprint(i)},
		}
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendEvent(ctx, &sessiond.Event{ID: "other", Type: sessiond.EventLogout, UserID: "u2", At: base}); err != nil {
		t.Fatal(err)
	}
	got, err := s.EventsByUser(ctx, "u1", 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("EventsByUser = %d, %v", len(got), err)
	}
	if got[0].Detail["n"] != "4" || got[2].Detail["n"] != "2" || got[0].Type != sessiond.EventLogin || got[0].IPAddress != "192.0.2.1" || !got[0].At.Equal(base.Add(4*time.Hour)) {
		t.Fatalf("not newest first, or fields lost: %+v", got[0])
	}
	n, err := s.DeleteEventsBefore(ctx, base.Add(2*time.Hour), 100)
	if err != nil || n != 3 {
		t.Fatalf("DeleteEventsBefore = %d, %v; want 3 (two of u1, one of u2)", n, err)
	}
	if got, _ := s.EventsByUser(ctx, "u1", 100); len(got) != 3 {
		t.Fatalf("%d events left, want 3", len(got))
	}
}

func testDevices(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	for i, c := range []struct {
		user, fp string
		want     bool
	}{
		{"u1", "Firefox/Linux", true},
		{"u1", "Firefox/Linux", false},
		{"u1", "Chrome/macOS", true},
		{"u2", "Firefox/Linux", true},
		{"u1", "Chrome/macOS", false},
	} {
		got, err := s.SeenDevice(ctx, c.user, c.fp, base)
		if err != nil || got != c.want {
			t.Fatalf("step %d SeenDevice(%s, %s) = %v, %v; want %v", i, c.user, c.fp, got, err, c.want)
		}
	}
}

func testClaimParallel(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	key := sessiond.HashToken("legacy-credential")
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for range 20 {
		wg.Go(func() {
			m, claimed, err := s.ClaimMigration(ctx, key, base, base.Add(10*time.Second))
			if err != nil {
				t.Errorf("ClaimMigration: %v", err)
				return
			}
			if m.State != sessiond.MigrationPending || m.Key != key {
				t.Errorf("record %+v", m)
			}
			if claimed {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d of 20 parallel claims won, want exactly 1", winners)
	}
}

func testMigrationLifecycle(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	key := sessiond.HashToken("legacy-credential")
	if _, claimed, err := s.ClaimMigration(ctx, key, base, base.Add(10*time.Second)); err != nil || !claimed {
		t.Fatalf("first claim: %v %v", claimed, err)
	}
	done := &sessiond.Migration{Key: key, State: sessiond.MigrationDone, Sealed: []byte("sealed-token"),
		ShareUntil: base.Add(30 * time.Second), ExpiresAt: base.Add(24 * time.Hour)}
	if err := s.FinishMigration(ctx, done); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "finishing twice", s.FinishMigration(ctx, done), sessiond.ErrNotFound)
	m, claimed, err := s.ClaimMigration(ctx, key, base.Add(time.Hour), base.Add(time.Hour+10*time.Second))
	if err != nil || claimed || m.State != sessiond.MigrationDone || string(m.Sealed) != "sealed-token" ||
		!m.ShareUntil.Equal(done.ShareUntil) || !m.ExpiresAt.Equal(done.ExpiresAt) {
		t.Fatalf("claim after finish (a replay): %+v claimed=%v err=%v", m, claimed, err)
	}
	got, err := s.MigrationByKey(ctx, key)
	if err != nil || got.State != sessiond.MigrationDone {
		t.Fatalf("MigrationByKey: %+v %v", got, err)
	}
	if err := s.DeleteMigration(ctx, key); err != nil {
		t.Fatal(err)
	}
	_, err = s.MigrationByKey(ctx, key)
	wantErr(t, "deleted migration", err, sessiond.ErrNotFound)
	if err := s.DeleteMigration(ctx, key); err != nil {
		t.Fatalf("deleting a missing migration: %v", err)
	}
	wantErr(t, "finishing a missing migration", s.FinishMigration(ctx, done), sessiond.ErrNotFound)
}

func testMigrationExpiry(t *testing.T, s sessiond.Store) {
	ctx := context.Background()
	key := sessiond.HashToken("legacy-credential")
	if _, claimed, _ := s.ClaimMigration(ctx, key, base, base.Add(10*time.Second)); !claimed {
		t.Fatal("first claim lost")
	}
	// The pending claim of a process that died expires; then anyone may
	// claim again.
	m, claimed, err := s.ClaimMigration(ctx, key, base.Add(11*time.Second), base.Add(21*time.Second))
	if err != nil || !claimed || !m.ExpiresAt.Equal(base.Add(21*time.Second)) {
		t.Fatalf("claim after expiry: %+v %v %v", m, claimed, err)
	}
}
