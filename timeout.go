package sessiond

import (
	"context"
	"encoding/json"
	"time"
)

// timeoutStore bounds every call to a SessionStore, so that a store that
// hangs yields ErrUnavailable within StoreTimeout instead of a hung request.
// Reads served from the cache never reach it and pay nothing.
type timeoutStore struct {
	s SessionStore
	d time.Duration
}

func (t timeoutStore) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, t.d)
}

func (t timeoutStore) CreateSession(ctx context.Context, s *Session) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.CreateSession(ctx, s)
}

func (t timeoutStore) SessionByTokenHash(ctx context.Context, h TokenHash) (*Session, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.SessionByTokenHash(ctx, h)
}

func (t timeoutStore) SessionByID(ctx context.Context, id string) (*Session, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.SessionByID(ctx, id)
}

func (t timeoutStore) SessionsByUser(ctx context.Context, userID string) ([]*Session, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.SessionsByUser(ctx, userID)
}

func (t timeoutStore) TouchSessions(ctx context.Context, touches []Touch) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.TouchSessions(ctx, touches)
}

func (t timeoutStore) UpdateSessionData(ctx context.Context, id string, data json.RawMessage, version int64) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.UpdateSessionData(ctx, id, data, version)
}

func (t timeoutStore) RotateSession(ctx context.Context, oldID string, s *Session) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.RotateSession(ctx, oldID, s)
}

func (t timeoutStore) DeleteSession(ctx context.Context, id string) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.DeleteSession(ctx, id)
}

func (t timeoutStore) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.DeleteUserSessions(ctx, userID, except)
}

func (t timeoutStore) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time, limit int) (int, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.DeleteExpiredSessions(ctx, now, idleBefore, limit)
}

func (t timeoutStore) Ping(ctx context.Context) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.Ping(ctx)
}

func (t timeoutStore) CreateSessionLimited(ctx context.Context, s *Session, lim Limit) ([]*Session, error) {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.CreateSessionLimited(ctx, s, lim)
}

func (t timeoutStore) SetSessionFlags(ctx context.Context, id string, flags []string) error {
	ctx, cancel := t.ctx(ctx)
	defer cancel()
	return t.s.SetSessionFlags(ctx, id, flags)
}

// DeleteTenantSessions gets four times the bound of one call: a tenant's
// revocation may be a series of short batches, each of which lets other
// clients through (Redis, SEC-38), and stopping it half-way helps nobody.
// Four times the default (20s) stays under the server's 30s write timeout,
// so the admin call still answers the count.
func (t timeoutStore) DeleteTenantSessions(ctx context.Context, tenantID string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*t.d)
	defer cancel()
	return t.s.DeleteTenantSessions(ctx, tenantID)
}

var _ SessionStore = timeoutStore{}
