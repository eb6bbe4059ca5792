package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// testSessionAndUser checks SessionUserReader, for stores that implement
// it: the session and its user come back as SessionByTokenHash and UserByID
// return them, a session without a user record comes back with none, an
// unknown hash is ErrNotFound, and updates and deletes of the user show.
func testSessionAndUser(t *testing.T, s sessiond.Store) {
	r, ok := s.(sessiond.SessionUserReader)
	if !ok {
		t.Skip("the store does not implement sessiond.SessionUserReader")
	}
	ctx := context.Background()
	u := newUser("66666666-6666-4666-8666-666666666666", "dee@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := newSession(t, u.ID)
	mustCreate(t, s, sess)
	own := newSession(t, "app-user-7") // a user of the application's own
	mustCreate(t, s, own)

	read := func(what string, h sessiond.TokenHash) (*sessiond.Session, *sessiond.User) {
		t.Helper()
		gs, gu, err := r.SessionAndUserByTokenHash(ctx, h)
		if err != nil {
			t.Fatalf("%s: SessionAndUserByTokenHash: %v", what, err)
		}
		return gs, gu
	}
	gs, gu := read("session with a user", sess.TokenHash)
	wantSession(t, gs, sess)
	if !reflect.DeepEqual(gu, u) {
		t.Fatalf("user = %+v\nwant %+v", gu, u)
	}

	gs, gu = read("session of the application's own user", own.TokenHash)
	wantSession(t, gs, own)
	if gu != nil {
		t.Fatalf("user of a session whose user has no record = %+v, want nil", gu)
	}

	var unknown sessiond.TokenHash
	unknown[0] = 1
	gs, gu, err := r.SessionAndUserByTokenHash(ctx, unknown)
	wantErr(t, "unknown token hash", err, sessiond.ErrNotFound)
	if gs != nil || gu != nil {
		t.Fatalf("unknown token hash returned %+v, %+v; want nothing", gs, gu)
	}

	u.Disabled, u.OnboardingStep, u.UpdatedAt = true, "done", base.Add(time.Hour)
	u.Attributes = json.RawMessage(`{"plan":"free"}`)
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, gu = read("after UpdateUser", sess.TokenHash)
	if !reflect.DeepEqual(gu, u) {
		t.Fatalf("user after UpdateUser = %+v\nwant %+v", gu, u)
	}

	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	gs, gu = read("after DeleteUser", sess.TokenHash)
	wantSession(t, gs, sess)
	if gu != nil {
		t.Fatalf("user after DeleteUser = %+v, want nil", gu)
	}

	if err := s.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = r.SessionAndUserByTokenHash(ctx, sess.TokenHash)
	wantErr(t, "deleted session", err, sessiond.ErrNotFound)
}
