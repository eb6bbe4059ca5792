package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
)

type sessionResponse struct {
	Authenticated bool            `json:"authenticated"`
	User          userJSON        `json:"user"`
	Session       sessionJSON     `json:"session"`
	Data          json.RawMessage `json:"data"`
	DataVersion   int64           `json:"data_version"`
}

// userJSON is the user of a session answer. Every field comes from what
// the server writes (the user record, or the session's own user and tenant
// ids), never from the browser-writable data (SEC-27).
type userJSON struct {
	ID              string          `json:"id"`
	Email           string          `json:"email"`
	TenantID        string          `json:"tenant_id"`
	NeedsOnboarding bool            `json:"needs_onboarding"`
	OnboardingStep  string          `json:"onboarding_step"`
	Attributes      json.RawMessage `json:"attributes"`
}

type sessionJSON struct {
	ID              string    `json:"id"`
	CreatedAt       time.Time `json:"created_at"`
	LastActivity    time.Time `json:"last_activity"`
	ExpiresAt       time.Time `json:"expires_at"`
	IdleExpiresAt   time.Time `json:"idle_expires_at"`
	AuthenticatedAt time.Time `json:"authenticated_at"`
	IPAddress       string    `json:"ip_address"`
	UserAgent       string    `json:"user_agent"`
	Device          string    `json:"device"`
	Flags           []string  `json:"flags"`
}

// Shared values of the answer's empty parts: never modified, they save an
// allocation per answer.
var (
	emptyObject = json.RawMessage("{}")
	noFlags     = []string{}
)

func (s *server) sessionBody(sess *sessiond.Session, u *sessiond.User) sessionResponse {
	data := sess.Data
	if len(data) == 0 {
		data = emptyObject
	}
	flags := sess.Flags
	if flags == nil {
		flags = noFlags
	}
	resp := sessionResponse{
		Authenticated: true,
		User:          userJSON{ID: sess.UserID, TenantID: sess.TenantID, Attributes: emptyObject},
		Session: sessionJSON{
			ID:              sess.ID,
			CreatedAt:       sess.CreatedAt,
			LastActivity:    sess.LastActivity,
			ExpiresAt:       sess.ExpiresAt,
			IdleExpiresAt:   sess.LastActivity.Add(s.idleTimeout),
			AuthenticatedAt: sess.AuthenticatedAt,
			IPAddress:       sess.IPAddress,
			UserAgent:       sess.UserAgent,
			Device:          s.devices.label(sess.UserAgent),
			Flags:           flags,
		},
		Data:        data,
		DataVersion: sess.Version,
	}
	if u != nil {
		resp.User = userJSON{
			ID:              u.ID,
			Email:           u.Email,
			TenantID:        u.TenantID,
			NeedsOnboarding: u.NeedsOnboarding,
			OnboardingStep:  u.OnboardingStep,
			Attributes:      u.Attributes,
		}
		if len(u.Attributes) == 0 {
			resp.User.Attributes = emptyObject
		}
	}
	return resp
}

// handleLogin: POST /api/auth/session-v2 {email, password,
// end_oldest_session?}.
func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		// At --at-limit refuse, end the least recently used session
		// instead of refusing (once the password is proved).
		EndOldestSession bool `json:"end_oldest_session"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	c := s.client(r)
	token, sess, user, err := s.Accounts.Login(ctx, accounts.Login{
		Email:            in.Email,
		Password:         in.Password,
		EndOldestSession: in.EndOldestSession,
		IPAddress:        c.IPAddress,
		UserAgent:        c.UserAgent,
		// Every session the client already holds is ended by the login
		// (SEC-06), also those planted on a parent domain (SEC-33).
		// Failing to read them does not stop the login.
		Presented: func(ctx context.Context) []*sessiond.Session { return s.Cookies.Live(ctx, s.Manager, r) },
	})
	if s.Metrics != nil {
		outcome := "success"
		if err != nil {
			outcome = sessiond.ErrorCode(err)
		}
		s.Metrics.Login(outcome)
	}
	if err != nil {
		s.logIfInternal(r, err)
		writeError(w, err)
		return
	}
	s.Cookies.Set(w, token, sess.ExpiresAt, s.Now())
	s.writeSession(w, sess, user)
}

// handleGetSession: GET /api/auth/session-v2, the current session and user.
// With Deps.MigrateOnGet, a request without a valid session that carries
// legacy cookies is migrated and answered with its new session.
func (s *server) handleGetSession(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessions.Session(r)
	if err != nil {
		if s.MigrateOnGet && errors.Is(err, sessiond.ErrUnauthenticated) && s.Migrator != nil && s.Migrator.HasLegacy(r) {
			s.migrateOnGet(w, r)
			return
		}
		s.refuseSession(w, r, err)
		return
	}
	if s.Migrator != nil && s.Migrator.KeepLegacy > 0 {
		// The end of a shadow period: a single-page app that migrated
		// through POST /api/auth/migrate-session calls this, not that.
		s.Migrator.ExpireBeside(w, r, sess)
	}
	user, err := s.userOf(r, sess)
	if err != nil {
		s.logIfInternal(r, err)
		writeError(w, err)
		return
	}
	s.writeSession(w, sess, user)
}

// handleLogout: DELETE /api/auth/session-v2. It answers 204 whether or not
// there was a session, and always expires the cookie (and the legacy
// cookies, with migration on); with the store down it answers 503, still
// expiring the cookie, because the server-side record may live on and the
// client must know.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request) {
	var failed error
	for _, token := range s.Cookies.Tokens(r) {
		if _, err := s.Manager.Logout(r.Context(), token, s.client(r)); err != nil {
			failed = err
		}
	}
	s.Cookies.Clear(w)
	if s.Migrator != nil && s.Migrator.CarriesLegacy(r) {
		// Legacy cookies kept for a shadow period (or never migrated)
		// must not log the user in again: by a migration on the next
		// request, or by the old backend after a rollback. Also, and
		// above all, while migration is switched off: that is the
		// rollback itself.
		s.Migrator.ExpireLegacy(w, r)
	}
	if failed != nil {
		s.logIfInternal(r, failed)
		writeError(w, failed)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handlePatchSession: PATCH /api/auth/session-v2 {data, version?}, a JSON
// merge patch of the session's application data.
func (s *server) handlePatchSession(w http.ResponseWriter, r *http.Request) {
	in, err := decodeDataPatch(r)
	if err != nil {
		writeError(w, err)
		return
	}
	sess, ok := s.requireSession(w, r)
	if !ok || !s.requireNoPendingReauth(w, sess) {
		return
	}
	updated, err := s.Manager.PatchData(r.Context(), sess, in.Data, in.Version)
	if err != nil {
		s.logIfInternal(r, err)
		writeError(w, err)
		return
	}
	user, err := s.userOf(r, updated)
	if err != nil {
		s.logIfInternal(r, err)
		writeError(w, err)
		return
	}
	s.writeSession(w, updated, user)
}

// requireSession returns the request's live session, or answers 401 (and
// expires a cookie that names no live session) or 503.
func (s *server) requireSession(w http.ResponseWriter, r *http.Request) (*sessiond.Session, bool) {
	sess, err := s.sessions.Session(r)
	if err != nil {
		s.refuseSession(w, r, err)
		return nil, false
	}
	return sess, true
}

// refuseSession answers a request whose session could not be read: 401
// (expiring a cookie that names no live session) or 503.
func (s *server) refuseSession(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, sessiond.ErrUnauthenticated) && s.Cookies.HasCookie(r) {
		s.Cookies.Clear(w)
	}
	s.logIfInternal(r, err)
	writeError(w, err)
}

// dataPatch is the body of a session data update: a JSON merge patch and,
// optionally, the version it applies to.
type dataPatch struct {
	Data    json.RawMessage `json:"data"`
	Version *int64          `json:"version"`
}

func decodeDataPatch(r *http.Request) (dataPatch, error) {
	var in dataPatch
	if err := decodeJSON(r, &in); err != nil {
		return in, err
	}
	if len(in.Data) == 0 || in.Data[0] != '{' {
		return in, sessiond.Errorf(sessiond.CodeInvalidInput, `"data" must be a JSON object`)
	}
	return in, nil
}

// requireNoPendingReauth answers 403 reauth_required when an anomaly asked
// for a fresh password check before the next state-changing request.
func (s *server) requireNoPendingReauth(w http.ResponseWriter, sess *sessiond.Session) bool {
	if sess.HasFlag(sessiond.FlagReauthRequired) {
		writeError(w, sessiond.ErrReauthRequired)
		return false
	}
	return true
}

// userOf returns the built-in user of the session, or nil for a session the
// application created for a user of its own.
func (s *server) userOf(r *http.Request, sess *sessiond.Session) (*sessiond.User, error) {
	u, err := s.Accounts.SessionUser(r.Context(), sess)
	if errors.Is(err, sessiond.ErrNotFound) {
		return nil, nil
	}
	return u, err
}

// emailOf returns the email of the session's user from the user record,
// which only the server writes (SEC-27); "" for a user without one.
func (s *server) emailOf(ctx context.Context, sess *sessiond.Session) (string, error) {
	u, err := s.Accounts.SessionUser(ctx, sess)
	if errors.Is(err, sessiond.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return u.Email, nil
}

// handleHealthz: the process is up.
func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz: the store answers.
func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.Manager.Ping(r.Context()); err != nil {
		s.logIfInternal(r, err)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
