package sqlitestore_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

// TestSessionAndUserByTokenHash: the joined read returns what
// SessionByTokenHash and UserByID return (every column in its place), a nil
// user for a session whose user has no record, and ErrNotFound for no
// session.
func TestSessionAndUserByTokenHash(t *testing.T) {
	ctx := context.Background()
	s := func() *sqlitestore.Store {
		s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}()
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := &sessiond.User{ID: "u1", Email: "Ann@example.com", EmailKey: "ann@example.com", PasswordHash: "$argon2id$x",
		TenantID: "t1", NeedsOnboarding: true, OnboardingStep: "profile", Disabled: true,
		Attributes: json.RawMessage(`{"roles":["admin"]}`), CreatedAt: now.Add(-time.Hour), UpdatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateUser(ctx, u); err != nil { // version 1
		t.Fatal(err)
	}
	session := func(id, userID string, h byte) *sessiond.Session {
		sess := &sessiond.Session{ID: id, TokenHash: sessiond.TokenHash{h}, UserID: userID, TenantID: "t1",
			IPAddress: "203.0.113.7", UserAgent: "ua", CreatedAt: now, LastActivity: now.Add(time.Second),
			ExpiresAt: now.Add(time.Hour), AuthenticatedAt: now, Data: json.RawMessage(`{"a":1}`), Version: 2,
			Flags: []string{"new_device"}}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		return sess
	}
	check := func(h sessiond.TokenHash, wantUser bool) {
		t.Helper()
		sess, user, err := s.SessionAndUserByTokenHash(ctx, h)
		if err != nil {
			t.Fatalf("hash %x: %v", h[:1], err)
		}
		want, err := s.SessionByTokenHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(sess, want) {
			t.Fatalf("hash %x: session\n got %+v\nwant %+v", h[:1], sess, want)
		}
		wantU, err := s.UserByID(ctx, sess.UserID)
		if !wantUser {
			if user != nil || !errors.Is(err, sessiond.ErrNotFound) {
				t.Fatalf("hash %x: user %+v (UserByID: %v), want none", h[:1], user, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(user, wantU) || user.Version != 1 || !user.Disabled || !user.NeedsOnboarding {
			t.Fatalf("hash %x: user\n got %+v\nwant %+v", h[:1], user, wantU)
		}
	}
	withUser := session("s1", "u1", 1)
	session("s2", "app-user", 2)
	check(withUser.TokenHash, true)
	check(sessiond.TokenHash{2}, false)
	if sess, user, err := s.SessionAndUserByTokenHash(ctx, sessiond.TokenHash{3}); !errors.Is(err, sessiond.ErrNotFound) || sess != nil || user != nil {
		t.Fatalf("no session: %v, %v, %v; want ErrNotFound", sess, user, err)
	}
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	check(withUser.TokenHash, false)
}
