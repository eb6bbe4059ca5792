package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/sessiond/sessiond"
)

// MaxAttributesSize bounds a user's attributes object, in bytes.
const MaxAttributesSize = 4 << 10

// check refuses what must never reach a record, a header or a log: control
// characters, oversized values, an email that is not an address, attributes
// that are not a small JSON object.
func checkExternal(e *sessiond.ExternalUser) (emailKey string, err error) {
	if e.ID == "" {
		return "", sessiond.Errorf(sessiond.CodeInvalidInput, "user id is required")
	}
	for _, c := range []struct{ field, v string }{
		{"user id", e.ID}, {"tenant id", e.TenantID}, {"onboarding step", e.OnboardingStep},
	} {
		if err := sessiond.CheckIdentity(c.field, c.v, sessiond.MaxIDLength); err != nil {
			return "", err
		}
	}
	if e.Attributes != nil {
		if e.Attributes, err = CheckAttributes(e.Attributes); err != nil {
			return "", err
		}
	}
	if e.Email != "" {
		if _, err := CanonicalEmail(e.Email); err != nil {
			return "", err
		}
	}
	return noEmailKey(e.ID), nil
}

// CheckAttributes returns attributes compacted, or an invalid-input error
// when they are not a JSON object of at most MaxAttributesSize bytes.
func CheckAttributes(raw json.RawMessage) (json.RawMessage, error) {
	var b bytes.Buffer
	if len(raw) > MaxAttributesSize || json.Compact(&b, raw) != nil || b.Len() == 0 || b.Bytes()[0] != '{' {
		return nil, sessiond.Errorf(sessiond.CodeInvalidInput, "attributes must be a JSON object of at most %d bytes", MaxAttributesSize)
	}
	return b.Bytes(), nil
}

// noEmailKey is the email key of an external user: unique by id, and never
// equal to a canonical email, which holds no space. External users do not
// sign in by email and password here, and their emails need not be unique
// (a multi-tenant backend may give one person an account per tenant), so
// their emails take no part in the index that password login uses.
func noEmailKey(id string) string { return " id " + id }

// SyncUser creates or refreshes the record of an external user and returns
// it. A user of sessiond's own directory (one with a password) is left as
// it is: the directory is the authority on its users. A disabled user is
// ErrInvalidCredentials, so that no trusted source can sign one in. A
// tenant that moved ends every session of the user (they carry the old
// one).
func (s *Service) SyncUser(ctx context.Context, e sessiond.ExternalUser) (*sessiond.User, error) {
	key, err := checkExternal(&e)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		u, err := s.syncOnce(ctx, e, key)
		// Two first migrations of one user race to create it: the loser
		// updates what the winner created.
		if errors.Is(err, sessiond.ErrConflict) && attempt == 0 {
			continue
		}
		return u, err
	}
}

func (s *Service) syncOnce(ctx context.Context, e sessiond.ExternalUser, key string) (*sessiond.User, error) {
	old, err := s.users.UserByID(ctx, e.ID)
	now := s.now().UTC()
	switch {
	case errors.Is(err, sessiond.ErrNotFound):
		u := &sessiond.User{ID: e.ID, Email: strings.TrimSpace(e.Email), EmailKey: key, TenantID: e.TenantID,
			NeedsOnboarding: e.NeedsOnboarding, OnboardingStep: e.OnboardingStep, Attributes: e.Attributes,
			CreatedAt: now, UpdatedAt: now}
		if len(u.Attributes) == 0 {
			u.Attributes = json.RawMessage("{}")
		}
		if err := s.users.CreateUser(ctx, u); err != nil {
			return nil, storeErr(err)
		}
		s.log.Info("external user recorded", "user_id", u.ID, "tenant_id", u.TenantID)
		return u, nil
	case err != nil:
		return nil, storeErr(err)
	}
	if old.Disabled {
		return nil, sessiond.ErrInvalidCredentials
	}
	if old.PasswordHash != "" {
		return old, nil
	}
	u := *old
	u.Email, u.EmailKey, u.TenantID = strings.TrimSpace(e.Email), key, e.TenantID
	u.NeedsOnboarding, u.OnboardingStep = e.NeedsOnboarding, e.OnboardingStep
	if e.Attributes != nil {
		u.Attributes = e.Attributes
	}
	if u.Email == old.Email && u.TenantID == old.TenantID && u.NeedsOnboarding == old.NeedsOnboarding &&
		u.OnboardingStep == old.OnboardingStep && bytes.Equal(u.Attributes, old.Attributes) {
		return old, nil // unchanged: no write, no invalidation
	}
	u.UpdatedAt = now
	moved, err := s.leaveTenant(ctx, old, &u)
	if err != nil {
		return nil, err
	}
	if err := s.updateUser(ctx, &u); err != nil {
		return nil, storeErr(err)
	}
	s.leftTenant(ctx, old, &u, moved, "sync")
	return &u, nil
}

// Admit reports whether a session may be made, or kept, for the user with
// the id, reading the record past every cache: ErrInvalidCredentials when
// the user has a record and it is disabled, nil when it is enabled or the
// user has none (an application's own user, known only by id). tenantID,
// when not empty, must be the record's tenant: a session's tenant is what
// tenant revocation and X-Tenant-Id go by, so it may not drift from the
// user's (ErrConflict).
func (s *Service) Admit(ctx context.Context, userID, tenantID string) error {
	u, err := s.users.UserByID(ctx, userID)
	switch {
	case errors.Is(err, sessiond.ErrNotFound):
		return nil
	case err != nil:
		return storeErr(err)
	case u.Disabled:
		return sessiond.ErrInvalidCredentials
	case tenantID != "" && tenantID != u.TenantID:
		return sessiond.Errorf(sessiond.CodeConflict, "the user belongs to another tenant")
	}
	return nil
}
