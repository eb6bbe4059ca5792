package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestSessionAndUserByTokenHash_ReadsWhatTheTwoLookupsRead: the one-trip
// lookup returns exactly what SessionByTokenHash and UserByID return, a nil
// user for a session whose user has no record, and ErrNotFound for an
// unknown or deleted session, with one shard and with several.
func TestSessionAndUserByTokenHash_ReadsWhatTheTwoLookupsRead(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(strconv.Itoa(shards)+"shards", func(t *testing.T) {
			s := openSharded(t, shards)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			u := &sessiond.User{ID: "user-{1}", Email: "a@example.com", EmailKey: "a@example.com", TenantID: "t1",
				Disabled: true, Attributes: json.RawMessage(`{"plan":"pro"}`), CreatedAt: now, UpdatedAt: now}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			with := newTestSession(t, u.ID, now)
			without := newTestSession(t, "no-such-user", now)
			for _, sess := range []*sessiond.Session{with, without} {
				if err := s.CreateSession(ctx, sess); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct {
				sess     *sessiond.Session
				wantUser bool
			}{{with, true}, {without, false}} {
				gotS, gotU, err := s.SessionAndUserByTokenHash(ctx, c.sess.TokenHash)
				if err != nil {
					t.Fatalf("session of %q: %v", c.sess.UserID, err)
				}
				wantS, err := s.SessionByTokenHash(ctx, c.sess.TokenHash)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gotS, wantS) {
					t.Fatalf("session of %q:\n got %+v\nwant %+v", c.sess.UserID, gotS, wantS)
				}
				wantU, err := s.UserByID(ctx, c.sess.UserID)
				switch {
				case !c.wantUser && (gotU != nil || !errors.Is(err, sessiond.ErrNotFound)):
					t.Fatalf("session of %q: user %+v (UserByID: %v); want nil", c.sess.UserID, gotU, err)
				case c.wantUser && (err != nil || !reflect.DeepEqual(gotU, wantU)):
					t.Fatalf("session of %q: user\n got %+v\nwant %+v (%v)", c.sess.UserID, gotU, wantU, err)
				}
			}
			var unknown sessiond.TokenHash
			rand.Read(unknown[:])
			if sess, u, err := s.SessionAndUserByTokenHash(ctx, unknown); !errors.Is(err, sessiond.ErrNotFound) || sess != nil || u != nil {
				t.Fatalf("unknown token: %v, %v, %v; want ErrNotFound", sess, u, err)
			}
			if err := s.DeleteSession(ctx, with.ID); err != nil {
				t.Fatal(err)
			}
			if sess, u, err := s.SessionAndUserByTokenHash(ctx, with.TokenHash); !errors.Is(err, sessiond.ErrNotFound) || sess != nil || u != nil {
				t.Fatalf("deleted session: %v, %v, %v; want ErrNotFound", sess, u, err)
			}
		})
	}
}

func newTestSession(t *testing.T, userID string, now time.Time) *sessiond.Session {
	t.Helper()
	id, err := sessiond.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var h sessiond.TokenHash
	rand.Read(h[:])
	return &sessiond.Session{ID: id, TokenHash: h, UserID: userID, TenantID: "t1", IPAddress: "192.0.2.1", UserAgent: "agent",
		CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour), AuthenticatedAt: now,
		Data: json.RawMessage(`{"a":1}`), Version: 2, Flags: []string{"new_device"}}
}

var _ interface {
	SessionAndUserByTokenHash(context.Context, sessiond.TokenHash) (*sessiond.Session, *sessiond.User, error)
} = (*redisstore.Store)(nil)
