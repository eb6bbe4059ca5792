package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/password"
)

// MaxListLimit is the largest page ListUsers returns.
const MaxListLimit = 500

// Account describes a user to create through the admin API or an import.
// At most one of Password (hashed here) and PasswordHash (an imported hash,
// checked with password.Check) is set. With neither, the user is external:
// it has no password here, signs in through delegated login or the admin
// API, and its email need not be unique.
type Account struct {
	ID              string // optional: a random UUID when empty
	Email           string
	TenantID        string
	NeedsOnboarding bool
	OnboardingStep  string
	Attributes      json.RawMessage
	Password        string
	PasswordHash    string
}

// prepare checks a and returns the user to store (without a password hash
// for a plain password, which the caller hashes).
func (s *Service) prepare(a Account) (*sessiond.User, error) {
	if a.Password != "" && a.PasswordHash != "" {
		return nil, sessiond.Errorf(sessiond.CodeInvalidInput, "give password or password_hash, not both")
	}
	if a.ID == "" {
		id, err := sessiond.NewID(s.rand)
		if err != nil {
			return nil, err
		}
		a.ID = id
	}
	for _, c := range []struct{ field, v string }{
		{"user id", a.ID}, {"tenant id", a.TenantID}, {"onboarding step", a.OnboardingStep},
	} {
		if err := sessiond.CheckIdentity(c.field, c.v, sessiond.MaxIDLength); err != nil {
			return nil, err
		}
	}
	attrs := json.RawMessage("{}")
	if len(a.Attributes) > 0 && string(a.Attributes) != "null" {
		var err error
		if attrs, err = CheckAttributes(a.Attributes); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC()
	u := &sessiond.User{ID: a.ID, Email: strings.TrimSpace(a.Email), TenantID: a.TenantID,
		NeedsOnboarding: a.NeedsOnboarding, OnboardingStep: a.OnboardingStep, Attributes: attrs,
		CreatedAt: now, UpdatedAt: now}
	if a.Password == "" && a.PasswordHash == "" {
		if u.Email != "" {
			if _, err := CanonicalEmail(u.Email); err != nil {
				return nil, err
			}
		}
		u.EmailKey = noEmailKey(u.ID)
		return u, nil
	}
	key, err := CanonicalEmail(a.Email)
	if err != nil {
		return nil, err
	}
	u.EmailKey = key
	if a.PasswordHash != "" {
		if err := password.Check(a.PasswordHash); err != nil {
			msg := err.Error()
			var e *sessiond.Error
			if errors.As(err, &e) {
				msg = e.Message
			}
			return nil, sessiond.Errorf(sessiond.CodeInvalidInput, "password_hash: %s", msg)
		}
		u.PasswordHash = a.PasswordHash
	} else if err := CheckPassword(a.Password); err != nil {
		return nil, err
	}
	return u, nil
}

// CreateAccount creates a user from a. A taken id or email is ErrConflict.
func (s *Service) CreateAccount(ctx context.Context, a Account) (*sessiond.User, error) {
	u, err := s.prepare(a)
	if err != nil {
		return nil, err
	}
	if a.Password != "" {
		if u.PasswordHash, err = s.hasher.Hash(ctx, a.Password); err != nil {
			return nil, err
		}
	}
	if err := s.users.CreateUser(ctx, u); err != nil {
		if errors.Is(err, sessiond.ErrConflict) {
			return nil, sessiond.Errorf(sessiond.CodeConflict, "a user with this id or email exists")
		}
		return nil, storeErr(err)
	}
	s.log.Info("user created", "user_id", u.ID, "tenant_id", u.TenantID, "via", "admin")
	return u, nil
}

// User returns the user's record as the store holds it, bypassing the node
// cache: what an operator reads back is never stale.
func (s *Service) User(ctx context.Context, id string) (*sessiond.User, error) {
	u, err := s.users.UserByID(ctx, id)
	if err != nil {
		return nil, storeErr(err)
	}
	return u, nil
}

// ListUsers returns a page of users and the cursor of the next ("" at the
// end). The limit is clipped to 1..MaxListLimit; 0 means 100.
func (s *Service) ListUsers(ctx context.Context, f sessiond.UserFilter) ([]*sessiond.User, string, error) {
	switch {
	case f.Limit == 0:
		f.Limit = 100
	case f.Limit < 0 || f.Limit > MaxListLimit:
		return nil, "", sessiond.Errorf(sessiond.CodeInvalidInput, "limit must be from 1 to %d", MaxListLimit)
	}
	list, next, err := s.users.ListUsers(ctx, f)
	if err != nil {
		return nil, "", storeErr(err)
	}
	return list, next, nil
}

// UserPatch is a JSON merge patch (RFC 7386) of a user's mutable fields:
// a member that is absent leaves its field alone, attributes merge as an
// object (a null member deletes that key). Password and hash are not
// patched here.
type UserPatch struct {
	Email           *string         `json:"email"`
	TenantID        *string         `json:"tenant_id"`
	NeedsOnboarding *bool           `json:"needs_onboarding"`
	OnboardingStep  *string         `json:"onboarding_step"`
	Disabled        *bool           `json:"disabled"`
	Attributes      json.RawMessage `json:"attributes"`
}

// ErrStaleUser answers a patch whose version is not the stored one.
var ErrStaleUser = sessiond.Errorf(sessiond.CodeConflict, "the user changed since that version; read it again")

// PatchUser applies p to the user. With version set, the patch applies
// only to that version of the record (ErrStaleUser otherwise); without,
// to whatever is current, re-read when a concurrent update wins. Disabling
// a user ends all their sessions at once, as SetDisabled does (SEC-07), and
// so does moving them to another tenant (see leaveTenant); the count is
// returned. Every node's cached copy is dropped through the
// store's change feed.
func (s *Service) PatchUser(ctx context.Context, id string, p UserPatch, version *int64) (*sessiond.User, int, error) {
	moved := 0 // sessions ended because the tenant moves, over the attempts
	for attempt := 0; ; attempt++ {
		old, err := s.User(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		if version != nil && *version != old.Version {
			return nil, 0, ErrStaleUser
		}
		u, err := applyPatch(old, p)
		if err != nil {
			return nil, 0, err
		}
		u.UpdatedAt = s.now().UTC()
		n, err := s.leaveTenant(ctx, old, u)
		moved += n
		if err != nil {
			return nil, moved, err
		}
		err = s.updateUser(ctx, u)
		if errors.Is(err, sessiond.ErrConflict) {
			// A stale version, or an email that another user holds.
			cur, rerr := s.User(ctx, id)
			if rerr == nil && cur.Version == old.Version {
				return nil, 0, sessiond.Errorf(sessiond.CodeConflict, "a user with this email exists")
			}
			if version != nil {
				return nil, 0, ErrStaleUser
			}
			if attempt < 3 {
				continue
			}
		}
		if err != nil {
			return nil, 0, storeErr(err)
		}
		s.log.Info("user updated", "user_id", u.ID, "version", u.Version)
		if u.Disabled && p.Disabled != nil {
			// Also when the user was disabled already: a disabled user
			// has no session, and a call that failed half-way finishes
			// when made again.
			n, err := s.sessions.RevokeUser(ctx, u.ID, "")
			if err != nil {
				return u, moved + n, err
			}
			if !old.Disabled {
				s.sessions.Record(ctx, sessiond.Event{Type: sessiond.EventUserDisabled, UserID: u.ID,
					Detail: map[string]string{"sessions_revoked": strconv.Itoa(moved + n), "via": "admin_api"}})
			}
			return u, moved + n, nil
		}
		return u, s.leftTenant(ctx, old, u, moved, "admin_api"), nil
	}
}

func applyPatch(old *sessiond.User, p UserPatch) (*sessiond.User, error) {
	u := *old
	if p.Email != nil {
		u.Email = strings.TrimSpace(*p.Email)
		switch {
		case old.PasswordHash != "" || !strings.HasPrefix(old.EmailKey, " "):
			// A user of the directory signs in by email: the key follows.
			key, err := CanonicalEmail(u.Email)
			if err != nil {
				return nil, err
			}
			u.EmailKey = key
		case u.Email != "":
			if _, err := CanonicalEmail(u.Email); err != nil {
				return nil, err
			}
		}
	}
	if p.TenantID != nil {
		u.TenantID = *p.TenantID
	}
	if p.NeedsOnboarding != nil {
		u.NeedsOnboarding = *p.NeedsOnboarding
	}
	if p.OnboardingStep != nil {
		u.OnboardingStep = *p.OnboardingStep
	}
	if p.Disabled != nil {
		u.Disabled = *p.Disabled
	}
	for _, c := range []struct{ field, v string }{{"tenant id", u.TenantID}, {"onboarding step", u.OnboardingStep}} {
		if err := sessiond.CheckIdentity(c.field, c.v, sessiond.MaxIDLength); err != nil {
			return nil, err
		}
	}
	if len(p.Attributes) > 0 {
		attrs := json.RawMessage("{}")
		if !bytes.Equal(bytes.TrimSpace(p.Attributes), []byte("null")) {
			merged, err := sessiond.MergePatch(old.Attributes, p.Attributes)
			if err != nil {
				return nil, sessiond.Errorf(sessiond.CodeInvalidInput, "attributes must be a JSON object")
			}
			if attrs, err = CheckAttributes(merged); err != nil {
				return nil, err
			}
		}
		u.Attributes = attrs
	}
	return &u, nil
}

// DeleteUser deletes the user and ends all their sessions. It returns how
// many sessions ended.
func (s *Service) DeleteUser(ctx context.Context, id string) (int, error) {
	err := s.users.DeleteUser(ctx, id)
	if err != nil {
		return 0, storeErr(err)
	}
	n, err := s.sessions.RevokeUser(ctx, id, "")
	s.sessions.Record(context.WithoutCancel(ctx), sessiond.Event{Type: sessiond.EventRevoked, UserID: id,
		Detail: map[string]string{"reason": "user_deleted", "count": strconv.Itoa(n)}})
	s.log.Info("user deleted", "user_id", id, "sessions_revoked", n)
	return n, err
}

// A session's tenant is what tenant revocation and X-Tenant-Id go by, and
// it may not drift from its user's (see Admit): a user moved to another
// tenant loses every session. leaveTenant ends them before the record
// moves, so that a failure leaves the record as it was and the call can be
// made again; leftTenant ends, after it moved, any session that a login
// made in between, and records the revocation. Both do nothing when the
// tenant stays.

// leaveTenant ends every session of the user that old is, when u moves it
// to another tenant, and returns how many ended.
func (s *Service) leaveTenant(ctx context.Context, old, u *sessiond.User) (int, error) {
	if u.TenantID == old.TenantID {
		return 0, nil
	}
	return s.sessions.RevokeUser(ctx, u.ID, "")
}

// leftTenant ends the sessions made in the old tenant while the record
// moved (a failure is logged: the window is a store round trip), records
// the move's revocations, and returns their count with the n ended before.
func (s *Service) leftTenant(ctx context.Context, old, u *sessiond.User, n int, via string) int {
	if u.TenantID == old.TenantID {
		return 0
	}
	more, err := s.sessions.RevokeUser(context.WithoutCancel(ctx), u.ID, "")
	if err != nil {
		s.log.Warn("ending the sessions made while the user moved tenant failed", "user_id", u.ID, "err", err)
	}
	n += more
	s.sessions.Record(ctx, sessiond.Event{Type: sessiond.EventRevoked, UserID: u.ID,
		Detail: map[string]string{"reason": "tenant_changed", "scope": "user", "count": strconv.Itoa(n),
			"from_tenant": old.TenantID, "to_tenant": u.TenantID, "via": via}})
	return n
}
