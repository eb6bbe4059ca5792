package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/sessionhttp"
)

// maxImportBytes bounds the body of POST /admin/v1/users/import; larger
// imports go through "sessiond user import" or several calls.
const maxImportBytes = 8 << 20

var errNoSuchUser = sessiond.Errorf(sessiond.CodeNotFound, "no such user")

// failUser answers a user route's error: a missing user is 404 "no such
// user", anything else as s.fail does.
func (s *server) failUser(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, sessiond.ErrNotFound) {
		err = errNoSuchUser
	}
	s.fail(w, r, err)
}

// AdminUser is a user as the admin API shows it: every field but the
// password hash, of which only the presence is told.
type AdminUser struct {
	ID              string          `json:"id"`
	Email           string          `json:"email"`
	TenantID        string          `json:"tenant_id"`
	NeedsOnboarding bool            `json:"needs_onboarding"`
	OnboardingStep  string          `json:"onboarding_step"`
	Disabled        bool            `json:"disabled"`
	Attributes      json.RawMessage `json:"attributes"`
	HasPassword     bool            `json:"has_password"`
	Version         int64           `json:"version"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
}

// NewAdminUser returns the admin view of u.
func NewAdminUser(u *sessiond.User) AdminUser {
	attrs := u.Attributes
	if len(attrs) == 0 {
		attrs = json.RawMessage("{}")
	}
	return AdminUser{ID: u.ID, Email: u.Email, TenantID: u.TenantID, NeedsOnboarding: u.NeedsOnboarding,
		OnboardingStep: u.OnboardingStep, Disabled: u.Disabled, Attributes: attrs, HasPassword: u.PasswordHash != "",
		Version: u.Version, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// handleAdminCreateUser: POST /admin/v1/users. With password the user signs
// in here; with password_hash (an imported hash, checked now) too, and the
// hash becomes argon2id at the first login; with neither the user is
// external (delegated login or the admin API sign them in).
func (s *server) handleAdminCreateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID              string          `json:"id"`
		Email           string          `json:"email"`
		TenantID        string          `json:"tenant_id"`
		NeedsOnboarding bool            `json:"needs_onboarding"`
		OnboardingStep  string          `json:"onboarding_step"`
		Attributes      json.RawMessage `json:"attributes"`
		Password        string          `json:"password"`
		PasswordHash    string          `json:"password_hash"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	u, err := s.Accounts.CreateAccount(r.Context(), accounts.Account{ID: in.ID, Email: in.Email, TenantID: in.TenantID,
		NeedsOnboarding: in.NeedsOnboarding, OnboardingStep: in.OnboardingStep, Attributes: in.Attributes,
		Password: in.Password, PasswordHash: in.PasswordHash})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": NewAdminUser(u)})
}

// handleAdminGetUser: GET /admin/v1/users/{id}, read from the store.
func (s *server) handleAdminGetUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.Accounts.User(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failUser(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": NewAdminUser(u)})
}

// handleAdminPatchUser: PATCH /admin/v1/users/{id}, a merge patch of the
// mutable fields with an optional version (409 when stale).
func (s *server) handleAdminPatchUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		accounts.UserPatch
		Version *int64 `json:"version"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	u, n, err := s.Accounts.PatchUser(r.Context(), r.PathValue("id"), in.UserPatch, in.Version)
	if err != nil {
		s.failUser(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": NewAdminUser(u), "revoked": n})
}

// handleAdminDeleteUser: DELETE /admin/v1/users/{id}: the record goes and
// every session of the user ends.
func (s *server) handleAdminDeleteUser(w http.ResponseWriter, r *http.Request) {
	n, err := s.Accounts.DeleteUser(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failUser(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": true, "revoked": n})
}

// handleAdminListUsers: GET /admin/v1/users?email_prefix=&tenant_id=&cursor=&limit=.
// The cursor is opaque; next_cursor is "" on the last page.
func (s *server) handleAdminListUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := sessiond.UserFilter{EmailPrefix: q.Get("email_prefix"), TenantID: q.Get("tenant_id")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > accounts.MaxListLimit {
			writeError(w, sessiond.Errorf(sessiond.CodeInvalidInput, "limit must be a whole number from 1 to %d", accounts.MaxListLimit))
			return
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		after, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(after) == 0 || len(after) > sessiond.MaxIDLength {
			writeError(w, sessiond.Errorf(sessiond.CodeInvalidInput, "cursor is not one this API gave"))
			return
		}
		f.After = string(after)
	}
	list, next, err := s.Accounts.ListUsers(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	users := make([]AdminUser, len(list))
	for i, u := range list {
		users[i] = NewAdminUser(u)
	}
	cursor := ""
	if next != "" {
		cursor = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "next_cursor": cursor})
}

// handleAdminImportUsers: POST /admin/v1/users/import, JSON Lines
// (application/x-ndjson or application/jsonl) or one JSON array
// (application/json), at most maxImportBytes. Every line is checked before
// anything is written; a refusal names its line.
func (s *server) handleAdminImportUsers(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "application/x-ndjson" && mt != "application/jsonl") {
		writeError(w, sessiond.Errorf(sessionhttp.CodeUnsupportedMedia, "Content-Type must be application/x-ndjson (JSON Lines) or application/json (an array)"))
		return
	}
	recs, err := accounts.ReadImport(http.MaxBytesReader(w, r.Body, maxImportBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, sessiond.Errorf(sessionhttp.CodeBodyTooLarge, "import larger than %d bytes; use sessiond user import or split it", maxImportBytes))
		return
	}
	if err == nil {
		var res accounts.ImportResult
		res, err = s.Accounts.Import(r.Context(), recs)
		if err == nil {
			writeJSON(w, http.StatusOK, res)
			return
		}
	}
	s.logIfInternal(r, err)
	var ie *accounts.ImportError
	if errors.As(err, &ie) {
		e := &sessiond.Error{Code: sessiond.CodeInvalidInput}
		var se *sessiond.Error
		if errors.As(ie.Err, &se) {
			e.Code = se.Code
		}
		e.Message = ie.Error()
		writeError(w, e)
		return
	}
	writeError(w, err)
}
