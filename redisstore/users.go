package redisstore

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

func userFields(u *sessiond.User) []string {
	return []string{"id", u.ID, "email", u.Email, "key", u.EmailKey, "ph", u.PasswordHash, "t", u.TenantID,
		"no", strconv.FormatBool(u.NeedsOnboarding), "os", u.OnboardingStep, "dis", strconv.FormatBool(u.Disabled),
		"at", attributes(u), "c", micros(u.CreatedAt), "up", micros(u.UpdatedAt), "v", strconv.FormatInt(u.Version, 10)}
}

// attributes is the stored form of a user's attributes: {} for none.
func attributes(u *sessiond.User) string {
	if len(u.Attributes) == 0 {
		return "{}"
	}
	return string(u.Attributes)
}

// CreateUser implements sessiond.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *sessiond.User) error {
	n, err := userScript.Exec(ctx, s.c, []string{s.p}, append([]string{s.p, s.events, "create", ""}, userFields(u)...)).ToInt64()
	return scriptResult(n, err)
}

// UpdateUser implements sessiond.UserStore: the version check and the
// write are one script.
func (s *Store) UpdateUser(ctx context.Context, u *sessiond.User) error {
	n, err := userScript.Exec(ctx, s.c, []string{s.p}, append([]string{s.p, s.events, "update", s.conceal(sessiond.Change{UserID: u.ID})}, userFields(u)...)).ToInt64()
	if err = scriptResult(n, err); err == nil {
		u.Version++
	}
	return err
}

// DeleteUser implements sessiond.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	n, err := userScript.Exec(ctx, s.c, []string{s.p}, []string{s.p, s.events, "delete", s.conceal(sessiond.Change{UserID: id}), id}).ToInt64()
	return scriptResult(n, err)
}

// listScanBudget bounds the user records ListUsers reads for one page: a
// filter that matches few users returns a short page and a cursor rather
// than reading every user.
const listScanBudget = 1000

// ListUsers implements sessiond.UserStore: ids from the index in
// lexicographic (byte) order, records read in batches and filtered with
// UserFilter.MatchUser. Users stored before the index existed are listed
// once they are next updated.
func (s *Store) ListUsers(ctx context.Context, f sessiond.UserFilter) ([]*sessiond.User, string, error) {
	limit := max(f.Limit, 1)
	after := f.After
	var list []*sessiond.User
	for scanned := 0; scanned < listScanBudget; {
		lo := "-"
		if after != "" {
			lo = "(" + after
		}
		ids, err := s.c.Do(ctx, s.c.B().Zrangebylex().Key(s.k("users")).Min(lo).Max("+").Limit(0, 100).Build()).AsStrSlice()
		if err != nil {
			return nil, "", translate(err)
		}
		if len(ids) == 0 {
			return list, "", nil
		}
		cmds := make(rueidis.Commands, len(ids))
		for i, id := range ids {
			cmds[i] = s.c.B().Hgetall().Key(s.k("user", id)).Build()
		}
		for i, r := range s.c.DoMulti(ctx, cmds...) {
			m, err := r.AsStrMap()
			if err != nil {
				return nil, "", translate(err)
			}
			after = ids[i]
			scanned++
			if len(m) == 0 {
				continue // deleted meanwhile
			}
			if u := userFromMap(m); f.MatchUser(u) {
				if len(list) == limit {
					return list, list[limit-1].ID, nil
				}
				list = append(list, u)
			}
		}
	}
	return list, after, nil
}

// UserByID implements sessiond.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (*sessiond.User, error) {
	m, err := s.c.Do(ctx, s.c.B().Hgetall().Key(s.k("user", id)).Build()).AsStrMap()
	if err != nil {
		return nil, translate(err)
	}
	if len(m) == 0 {
		return nil, sessiond.ErrNotFound
	}
	return userFromMap(m), nil
}

func userFromMap(m map[string]string) *sessiond.User {
	no, _ := strconv.ParseBool(m["no"])
	dis, _ := strconv.ParseBool(m["dis"])
	v, _ := strconv.ParseInt(m["v"], 10, 64) // absent before versions: 0
	attrs := m["at"]                         // absent on users stored before attributes existed
	if attrs == "" {
		attrs = "{}"
	}
	return &sessiond.User{ID: m["id"], Email: m["email"], EmailKey: m["key"], PasswordHash: m["ph"], TenantID: m["t"],
		NeedsOnboarding: no, OnboardingStep: m["os"], Disabled: dis, Attributes: json.RawMessage(attrs),
		CreatedAt: fromMicros(m["c"]), UpdatedAt: fromMicros(m["up"]), Version: v}
}

// UserByEmailKey implements sessiond.UserStore.
func (s *Store) UserByEmailKey(ctx context.Context, key string) (*sessiond.User, error) {
	id, err := s.c.Do(ctx, s.c.B().Get().Key(s.k("email", key)).Build()).ToString()
	if err != nil {
		return nil, translate(err)
	}
	return s.UserByID(ctx, id)
}
