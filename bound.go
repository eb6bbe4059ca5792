package sessiond

import (
	"context"
	"encoding/json"
	"time"
)

// StoreObserver is told of every store call made through a Manager: the
// operation (the store method's name), how long it took and its error.
// ErrNotFound and ErrConflict are answers, not failures; an observer that
// counts failures should leave them out. It is called on the request path
// and must not block.
type StoreObserver func(op string, d time.Duration, err error)

// bound is the one place where store calls get their deadline and are
// observed: every call is bounded by StoreTimeout, so that a store that
// hangs yields ErrUnavailable within it instead of a hung request, and
// reported to the StoreObserver. Reads served from the cache never reach it
// and pay nothing. The Manager's own calls go through it, and so do its
// neighbours' (Manager.Bound). Methods beyond SessionStore reach the
// capability of the wrapped store and must only be called when it has it.
type bound struct {
	s       SessionStore
	d       time.Duration
	observe StoreObserver
}

// call runs f with a context bounded by d and reports it as op.
func call[T any](b *bound, ctx context.Context, op string, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if b.observe == nil {
		return f(ctx)
	}
	start := time.Now()
	v, err := f(ctx)
	b.observe(op, time.Since(start), err)
	return v, err
}

// do is call for methods that return only an error.
func do(b *bound, ctx context.Context, op string, f func(context.Context) error) error {
	_, err := call(b, ctx, op, b.d, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// Bound returns store with every call bounded by the Manager's StoreTimeout
// and reported to its StoreObserver, as the Manager's own calls are, and
// with every update or delete of a user dropping the user and the user's
// sessions from this node's cache at once (other nodes hear of it from the
// change feed): for the Manager's neighbours that use the same store (the
// accounts directory, the Migrator).
func (m *Manager) Bound(store Store) Store {
	return boundStore{&bound{s: store, d: m.cfg.StoreTimeout, observe: m.cfg.StoreObserver}, store, m}
}

// boundStore is a bound Store; Close is the store's own.
type boundStore struct {
	*bound
	raw Store
	m   *Manager
}

func (b boundStore) Close() error { return b.raw.Close() }

// UpdateUser drops the user from this node's cache whatever the outcome: a
// failed or timed-out write may still have landed.
func (b boundStore) UpdateUser(ctx context.Context, u *User) error {
	err := b.bound.UpdateUser(ctx, u)
	b.m.changed(Change{UserID: u.ID})
	return err
}

// DeleteUser drops the user and the user's sessions from this node's cache.
func (b boundStore) DeleteUser(ctx context.Context, id string) error {
	err := b.bound.DeleteUser(ctx, id)
	b.m.changed(Change{UserID: id})
	return err
}

// SessionStore.

func (b *bound) CreateSession(ctx context.Context, s *Session) error {
	return do(b, ctx, "CreateSession", func(ctx context.Context) error { return b.s.CreateSession(ctx, s) })
}

func (b *bound) SessionByTokenHash(ctx context.Context, h TokenHash) (*Session, error) {
	return call(b, ctx, "SessionByTokenHash", b.d, func(ctx context.Context) (*Session, error) { return b.s.SessionByTokenHash(ctx, h) })
}

func (b *bound) SessionByID(ctx context.Context, id string) (*Session, error) {
	return call(b, ctx, "SessionByID", b.d, func(ctx context.Context) (*Session, error) { return b.s.SessionByID(ctx, id) })
}

func (b *bound) SessionsByUser(ctx context.Context, userID string) ([]*Session, error) {
	return call(b, ctx, "SessionsByUser", b.d, func(ctx context.Context) ([]*Session, error) { return b.s.SessionsByUser(ctx, userID) })
}

func (b *bound) TouchSessions(ctx context.Context, touches []Touch) error {
	return do(b, ctx, "TouchSessions", func(ctx context.Context) error { return b.s.TouchSessions(ctx, touches) })
}

func (b *bound) UpdateSessionData(ctx context.Context, id string, data json.RawMessage, version int64) error {
	return do(b, ctx, "UpdateSessionData", func(ctx context.Context) error { return b.s.UpdateSessionData(ctx, id, data, version) })
}

func (b *bound) RotateSession(ctx context.Context, oldID string, s *Session) error {
	return do(b, ctx, "RotateSession", func(ctx context.Context) error { return b.s.RotateSession(ctx, oldID, s) })
}

func (b *bound) DeleteSession(ctx context.Context, id string) error {
	return do(b, ctx, "DeleteSession", func(ctx context.Context) error { return b.s.DeleteSession(ctx, id) })
}

func (b *bound) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	return call(b, ctx, "DeleteUserSessions", b.d, func(ctx context.Context) (int, error) { return b.s.DeleteUserSessions(ctx, userID, except) })
}

func (b *bound) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time, limit int) (int, error) {
	return call(b, ctx, "DeleteExpiredSessions", b.d, func(ctx context.Context) (int, error) {
		return b.s.DeleteExpiredSessions(ctx, now, idleBefore, limit)
	})
}

func (b *bound) Ping(ctx context.Context) error {
	return do(b, ctx, "Ping", b.s.Ping)
}

func (b *bound) CreateSessionLimited(ctx context.Context, s *Session, lim Limit) ([]*Session, error) {
	return call(b, ctx, "CreateSessionLimited", b.d, func(ctx context.Context) ([]*Session, error) { return b.s.CreateSessionLimited(ctx, s, lim) })
}

func (b *bound) SetSessionFlags(ctx context.Context, id string, flags []string) error {
	return do(b, ctx, "SetSessionFlags", func(ctx context.Context) error { return b.s.SetSessionFlags(ctx, id, flags) })
}

// DeleteTenantSessions gets four times the bound of one call: a tenant's
// revocation may be a series of short batches, each of which lets other
// clients through (Redis, SEC-38), and stopping it half-way helps nobody.
// Four times the default (20s) stays under the server's 30s write timeout,
// so the admin call still answers the count.
func (b *bound) DeleteTenantSessions(ctx context.Context, tenantID string) (int, error) {
	return call(b, ctx, "DeleteTenantSessions", 4*b.d, func(ctx context.Context) (int, error) { return b.s.DeleteTenantSessions(ctx, tenantID) })
}

// SessionUserReader.

func (b *bound) SessionAndUserByTokenHash(ctx context.Context, h TokenHash) (*Session, *User, error) {
	type both struct {
		s *Session
		u *User
	}
	r, err := call(b, ctx, "SessionAndUserByTokenHash", b.d, func(ctx context.Context) (both, error) {
		s, u, err := b.s.(SessionUserReader).SessionAndUserByTokenHash(ctx, h)
		return both{s, u}, err
	})
	return r.s, r.u, err
}

// UserStore.

func (b *bound) users() UserStore { return b.s.(UserStore) }

func (b *bound) CreateUser(ctx context.Context, u *User) error {
	return do(b, ctx, "CreateUser", func(ctx context.Context) error { return b.users().CreateUser(ctx, u) })
}

func (b *bound) UserByID(ctx context.Context, id string) (*User, error) {
	return call(b, ctx, "UserByID", b.d, func(ctx context.Context) (*User, error) { return b.users().UserByID(ctx, id) })
}

func (b *bound) UserByEmailKey(ctx context.Context, key string) (*User, error) {
	return call(b, ctx, "UserByEmailKey", b.d, func(ctx context.Context) (*User, error) { return b.users().UserByEmailKey(ctx, key) })
}

func (b *bound) UpdateUser(ctx context.Context, u *User) error {
	return do(b, ctx, "UpdateUser", func(ctx context.Context) error { return b.users().UpdateUser(ctx, u) })
}

func (b *bound) DeleteUser(ctx context.Context, id string) error {
	return do(b, ctx, "DeleteUser", func(ctx context.Context) error { return b.users().DeleteUser(ctx, id) })
}

func (b *bound) ListUsers(ctx context.Context, f UserFilter) ([]*User, string, error) {
	type page struct {
		users []*User
		next  string
	}
	p, err := call(b, ctx, "ListUsers", b.d, func(ctx context.Context) (page, error) {
		users, next, err := b.users().ListUsers(ctx, f)
		return page{users, next}, err
	})
	return p.users, p.next, err
}

// CounterStore.

func (b *bound) counters() CounterStore { return b.s.(CounterStore) }

func (b *bound) IncrementCounter(ctx context.Context, key string, now time.Time, ttl time.Duration) (int64, error) {
	return call(b, ctx, "IncrementCounter", b.d, func(ctx context.Context) (int64, error) {
		return b.counters().IncrementCounter(ctx, key, now, ttl)
	})
}

func (b *bound) Counter(ctx context.Context, key string, now time.Time) (int64, time.Time, error) {
	type value struct {
		n     int64
		until time.Time
	}
	v, err := call(b, ctx, "Counter", b.d, func(ctx context.Context) (value, error) {
		n, until, err := b.counters().Counter(ctx, key, now)
		return value{n, until}, err
	})
	return v.n, v.until, err
}

func (b *bound) ResetCounter(ctx context.Context, key string) error {
	return do(b, ctx, "ResetCounter", func(ctx context.Context) error { return b.counters().ResetCounter(ctx, key) })
}

func (b *bound) ReserveCounter(ctx context.Context, key string, now time.Time, ttl time.Duration, bo Backoff) (bool, error) {
	return call(b, ctx, "ReserveCounter", b.d, func(ctx context.Context) (bool, error) {
		return b.counters().ReserveCounter(ctx, key, now, ttl, bo)
	})
}

func (b *bound) ReleaseCounter(ctx context.Context, key string) error {
	return do(b, ctx, "ReleaseCounter", func(ctx context.Context) error { return b.counters().ReleaseCounter(ctx, key) })
}

// EventStore.

func (b *bound) events() EventStore { return b.s.(EventStore) }

func (b *bound) AppendEvent(ctx context.Context, e *Event) error {
	return do(b, ctx, "AppendEvent", func(ctx context.Context) error { return b.events().AppendEvent(ctx, e) })
}

func (b *bound) EventsByUser(ctx context.Context, userID string, limit int) ([]*Event, error) {
	return call(b, ctx, "EventsByUser", b.d, func(ctx context.Context) ([]*Event, error) { return b.events().EventsByUser(ctx, userID, limit) })
}

func (b *bound) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	return call(b, ctx, "DeleteEventsBefore", b.d, func(ctx context.Context) (int, error) {
		return b.events().DeleteEventsBefore(ctx, before, limit)
	})
}

// DeviceStore.

func (b *bound) SeenDevice(ctx context.Context, userID, fingerprint string, at time.Time) (bool, error) {
	return call(b, ctx, "SeenDevice", b.d, func(ctx context.Context) (bool, error) {
		return b.s.(DeviceStore).SeenDevice(ctx, userID, fingerprint, at)
	})
}

// MigrationStore.

func (b *bound) migrations() MigrationStore { return b.s.(MigrationStore) }

func (b *bound) ClaimMigration(ctx context.Context, key TokenHash, now, pendingUntil time.Time) (*Migration, bool, error) {
	type claim struct {
		m   *Migration
		won bool
	}
	c, err := call(b, ctx, "ClaimMigration", b.d, func(ctx context.Context) (claim, error) {
		m, won, err := b.migrations().ClaimMigration(ctx, key, now, pendingUntil)
		return claim{m, won}, err
	})
	return c.m, c.won, err
}

func (b *bound) MigrationByKey(ctx context.Context, key TokenHash) (*Migration, error) {
	return call(b, ctx, "MigrationByKey", b.d, func(ctx context.Context) (*Migration, error) { return b.migrations().MigrationByKey(ctx, key) })
}

func (b *bound) FinishMigration(ctx context.Context, m *Migration) error {
	return do(b, ctx, "FinishMigration", func(ctx context.Context) error { return b.migrations().FinishMigration(ctx, m) })
}

func (b *bound) DeleteMigration(ctx context.Context, key TokenHash) error {
	return do(b, ctx, "DeleteMigration", func(ctx context.Context) error { return b.migrations().DeleteMigration(ctx, key) })
}

var (
	_ SessionStore      = (*bound)(nil)
	_ SessionUserReader = (*bound)(nil)
	_ Store             = boundStore{}
)
