package sessiond

import "context"

// PasswordHashWithheld is the PasswordHash of a user that User and
// SessionUser return when the user has a password: this node's cache never
// holds a password hash (a memory dump of a node must not carry the hash of
// every active user), only whether there is one. Check a password against
// the user read from the store.
const PasswordHashWithheld = "(withheld: read the user from the store)"

// withheld returns u, or a copy of u whose PasswordHash is
// PasswordHashWithheld.
func withheld(u *User) *User {
	if u == nil || u.PasswordHash == "" {
		return u
	}
	c := *u
	c.PasswordHash = PasswordHashWithheld
	return &c
}

// User returns the user with the id from this node's cache, or calls load
// and caches what it returns. The cache follows the same rules as for
// sessions: bounded, CacheTTL at most, dropped when a user is changed through a Bound store and on any
// change reported by the store's change feed. Errors from load are returned
// as they are; load bounds its own calls (a Bound store's UserByID does).
// The user's PasswordHash is PasswordHashWithheld when it has one.
func (m *Manager) User(ctx context.Context, id string, load func(context.Context, string) (*User, error)) (*User, error) {
	now := m.cfg.Now()
	if u := m.cache.getUser(id, now); u != nil {
		return u, nil
	}
	epoch := m.cache.snapshot()
	u, err := load(ctx, id)
	if err != nil {
		return nil, err
	}
	u = withheld(u)
	m.cache.putUser(u, epoch, now)
	return u, nil
}

// CacheLen reports how many sessions this node holds in memory.
func (m *Manager) CacheLen() int { return m.cache.len() }

// SessionUser returns the user of s: the one read together with s when the
// store could (SessionUserReader) and found one, else the user cached on
// this node, else what load returns, which is then cached (see User). It returns ErrNotFound
// when no user has s.UserID (a session the application created for a user of
// its own). The user's PasswordHash is PasswordHashWithheld when it has
// one.
func (m *Manager) SessionUser(ctx context.Context, s *Session, load func(context.Context, string) (*User, error)) (*User, error) {
	if s.user != nil {
		return s.user, nil
	}
	return m.User(ctx, s.UserID, load)
}
