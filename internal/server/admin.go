package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
)

var (
	errAdminUnauthorized = sessiond.Errorf(sessionhttp.CodeAdminUnauthorized, "a valid admin bearer token is required")
	errNoSuchSession     = sessiond.Errorf(sessiond.CodeNotFound, "no such session")
)

// adminOnly guards the admin API: with no token configured every admin
// route is 404; otherwise the request needs "Authorization: Bearer <token>".
// The token is compared as SHA-256 digests in constant time, so neither its
// value nor its length leaks through timing. A token sent any other way (a
// cookie, the query string) does not count.
func (s *server) adminOnly(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Cache-Control"] = headerNoStore
		if s.adminDigest == nil {
			writeError(w, errNotFound)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(token))
		if !ok || token == "" || subtle.ConstantTimeCompare(sum[:], s.adminDigest) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sessiond-admin"`)
			writeError(w, errAdminUnauthorized)
			return
		}
		next(w, r)
	})
}

// handleAdminCreateSession: POST /admin/v1/sessions. The application has
// authenticated the user itself; sessiond mints the session and returns the
// token once, with the Set-Cookie value to forward to the browser.
//
// The user's identity (email, onboarding state, attributes such as a plan
// or roles) goes into the user record, which only the server writes, when
// the call gives any of it; data is the browser-writable application state
// and is never identity (SEC-27).
func (s *server) handleAdminCreateSession(w http.ResponseWriter, r *http.Request) {
	var in struct {
		UserID          string          `json:"user_id"`
		TenantID        string          `json:"tenant_id"`
		Email           string          `json:"email"`
		NeedsOnboarding bool            `json:"needs_onboarding"`
		OnboardingStep  string          `json:"onboarding_step"`
		Attributes      json.RawMessage `json:"attributes"`
		IPAddress       string          `json:"ip_address"`
		UserAgent       string          `json:"user_agent"`
		Data            json.RawMessage `json:"data"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	if in.Email != "" || in.NeedsOnboarding || in.OnboardingStep != "" || len(in.Attributes) > 0 {
		if string(in.Attributes) == "null" {
			in.Attributes = nil
		}
		if _, err := s.Accounts.SyncUser(r.Context(), sessiond.ExternalUser{ID: in.UserID, Email: in.Email, TenantID: in.TenantID,
			NeedsOnboarding: in.NeedsOnboarding, OnboardingStep: in.OnboardingStep, Attributes: in.Attributes}); err != nil {
			if errors.Is(err, sessiond.ErrInvalidCredentials) {
				err = sessiond.Errorf(sessiond.CodeConflict, "the user is disabled")
			}
			s.fail(w, r, err)
			return
		}
	}
	var data json.RawMessage
	if len(in.Data) > 0 && string(in.Data) != "null" {
		var err error
		if data, err = sessiond.MergePatch(nil, in.Data); err != nil {
			writeError(w, err)
			return
		}
	}
	// A user with a record must be enabled, and the session's tenant is
	// the record's: checked before, and again after the session exists,
	// so that a disable racing this call leaves no session behind (as
	// accounts.Login does, SEC-37).
	admit := func() error {
		err := s.Accounts.Admit(r.Context(), in.UserID, in.TenantID)
		if errors.Is(err, sessiond.ErrInvalidCredentials) {
			err = sessiond.Errorf(sessiond.CodeConflict, "the user is disabled")
		}
		return err
	}
	if err := admit(); err != nil {
		s.fail(w, r, err)
		return
	}
	token, sess, err := s.Manager.Create(r.Context(), sessiond.SessionParams{
		UserID: in.UserID, TenantID: in.TenantID, IPAddress: in.IPAddress, UserAgent: in.UserAgent, Data: data,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := admit(); err != nil {
		if rerr := s.Manager.Revoke(context.WithoutCancel(r.Context()), sess.ID); rerr != nil {
			err = rerr
		}
		s.fail(w, r, err)
		return
	}
	s.Manager.Record(r.Context(), sessiond.Event{Type: sessiond.EventLogin, UserID: sess.UserID, SessionID: sess.ID,
		IPAddress: in.IPAddress, UserAgent: in.UserAgent, Detail: map[string]string{"via": "admin_api"}})
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":      token,
		"set_cookie": s.Cookies.SetCookieValue(token, sess.ExpiresAt, s.Now()),
		"session":    device(sess, "", true),
	})
}

// handleAdminListUser: GET /admin/v1/users/{user_id}/sessions.
func (s *server) handleAdminListUser(w http.ResponseWriter, r *http.Request) {
	list, err := s.Manager.List(r.Context(), r.PathValue("user_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, devices(list, "", true))
}

// handleAdminRevokeUser: DELETE /admin/v1/users/{user_id}/sessions.
func (s *server) handleAdminRevokeUser(w http.ResponseWriter, r *http.Request) {
	userID := r.PathValue("user_id")
	n, err := s.Manager.RevokeUser(r.Context(), userID, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.Manager.Record(r.Context(), sessiond.Event{Type: sessiond.EventRevoked, UserID: userID,
		Detail: map[string]string{"reason": "admin", "scope": "user", "count": strconv.Itoa(n)}})
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// handleAdminRevokeTenant: DELETE /admin/v1/tenants/{tenant_id}/sessions.
func (s *server) handleAdminRevokeTenant(w http.ResponseWriter, r *http.Request) {
	n, err := s.Manager.RevokeTenant(r.Context(), r.PathValue("tenant_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("audit", "event", sessiond.EventRevoked, "reason", "admin", "scope", "tenant", "tenant_id", r.PathValue("tenant_id"), "count", n)
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// adminSession loads the session named in the path, answering 400 or 404.
func (s *server) adminSession(w http.ResponseWriter, r *http.Request) (*sessiond.Session, bool) {
	id := r.PathValue("id")
	if !sessiond.ValidID(id) {
		writeError(w, errBadSessionID)
		return nil, false
	}
	sess, err := s.Manager.Lookup(r.Context(), id)
	if errors.Is(err, sessiond.ErrNotFound) {
		writeError(w, errNoSuchSession)
		return nil, false
	}
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return sess, true
}

// handleAdminGetSession: GET /admin/v1/sessions/{id}, with its data.
func (s *server) handleAdminGetSession(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.adminSession(w, r)
	if !ok {
		return
	}
	data := sess.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": device(sess, "", true), "data": data, "data_version": sess.Version})
}

// handleAdminRevokeSession: DELETE /admin/v1/sessions/{id}.
func (s *server) handleAdminRevokeSession(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.adminSession(w, r)
	if !ok {
		return
	}
	if err := s.Manager.Revoke(r.Context(), sess.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Manager.Record(r.Context(), sessiond.Event{Type: sessiond.EventRevoked, UserID: sess.UserID, SessionID: sess.ID,
		Detail: map[string]string{"reason": "admin"}})
	w.WriteHeader(http.StatusNoContent)
}

// handleAdminPatchData: PATCH /admin/v1/sessions/{id}/data {data, version?}.
func (s *server) handleAdminPatchData(w http.ResponseWriter, r *http.Request) {
	in, err := decodeDataPatch(r)
	if err != nil {
		writeError(w, err)
		return
	}
	sess, ok := s.adminSession(w, r)
	if !ok {
		return
	}
	updated, err := s.updateData(r.Context(), sess.ID, in.Data, in.Version)
	if errors.Is(err, sessiond.ErrUnauthenticated) {
		writeError(w, errNoSuchSession)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": device(updated, "", true), "data": updated.Data, "data_version": updated.Version})
}

// handleAdminDisableUser: POST /admin/v1/users/{user_id}/disable, for users
// of the built-in directory: ends all their sessions at once.
func (s *server) handleAdminDisableUser(w http.ResponseWriter, r *http.Request) {
	_, n, err := s.Accounts.SetDisabledByID(r.Context(), r.PathValue("user_id"), true)
	if errors.Is(err, sessiond.ErrNotFound) {
		writeError(w, sessiond.Errorf(sessiond.CodeNotFound, "no such user in the built-in directory"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"disabled": true, "revoked": n})
}

// updateData applies an admin PATCH body's data to the session with the
// id, conditional on the version it names, if any: by id, not tied to a
// token (a browser's own patch goes through Manager.PatchData).
func (s *server) updateData(ctx context.Context, id string, data json.RawMessage, version *int64) (*sessiond.Session, error) {
	if version != nil {
		return s.Manager.UpdateDataAt(ctx, id, data, *version)
	}
	return s.Manager.UpdateData(ctx, id, data)
}
