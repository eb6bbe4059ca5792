package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
)

type deviceJSON struct {
	ID           string    `json:"id"`
	UserID       string    `json:"user_id,omitempty"`
	TenantID     string    `json:"tenant_id,omitempty"`
	Device       string    `json:"device"`
	IPAddress    string    `json:"ip_address"`
	UserAgent    string    `json:"user_agent"`
	CreatedAt    time.Time `json:"created_at"`
	LastActivity time.Time `json:"last_activity"`
	ExpiresAt    time.Time `json:"expires_at"`
	Flags        []string  `json:"flags"`
	Current      bool      `json:"current"`
}

func device(sess *sessiond.Session, currentID string, withOwner bool) deviceJSON {
	d := deviceJSON{
		ID: sess.ID, Device: sess.Device(), IPAddress: sess.IPAddress, UserAgent: sess.UserAgent,
		CreatedAt: sess.CreatedAt, LastActivity: sess.LastActivity, ExpiresAt: sess.ExpiresAt,
		Flags: sess.Flags, Current: sess.ID == currentID,
	}
	if d.Flags == nil {
		d.Flags = []string{}
	}
	if withOwner {
		d.UserID, d.TenantID = sess.UserID, sess.TenantID
	}
	return d
}

func devices(list []*sessiond.Session, currentID string, withOwner bool) map[string][]deviceJSON {
	out := make([]deviceJSON, 0, len(list))
	for _, sess := range list {
		out = append(out, device(sess, currentID, withOwner))
	}
	return map[string][]deviceJSON{"sessions": out}
}

// handleListSessions: GET /api/auth/sessions, the caller's devices.
func (s *server) handleListSessions(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireSession(w, r)
	if !ok {
		return
	}
	list, err := s.Manager.List(r.Context(), sess.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, devices(list, sess.ID, false))
}

var errBadSessionID = sessiond.Errorf(sessiond.CodeInvalidInput, "session id must be a UUID")

// handleRevokeSession: DELETE /api/auth/sessions/{id}. Another user's
// session, or one that does not exist, is 404 alike (SEC-11). Revoking the
// current session is a logout.
func (s *server) handleRevokeSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !sessiond.ValidID(id) {
		writeError(w, errBadSessionID)
		return
	}
	sess, ok := s.requireSession(w, r)
	if !ok || !s.requireNoPendingReauth(w, sess) {
		return
	}
	target, err := s.Manager.Lookup(r.Context(), id)
	if errors.Is(err, sessiond.ErrNotFound) || err == nil && target.UserID != sess.UserID {
		writeError(w, sessiond.Errorf(sessiond.CodeNotFound, "no such session"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Manager.Revoke(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	c := s.client(r)
	s.Manager.Record(r.Context(), sessiond.Event{Type: sessiond.EventRevoked, UserID: sess.UserID, SessionID: id,
		IPAddress: c.IPAddress, UserAgent: c.UserAgent, Detail: map[string]string{"reason": "user", "by_session": sess.ID}})
	if id == sess.ID {
		s.Cookies.Clear(w)
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleRevokeOthers: POST /api/auth/sessions/revoke-others, with a recent
// authentication (SEC-12).
func (s *server) handleRevokeOthers(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.requireSession(w, r)
	if !ok {
		return
	}
	if err := s.Manager.RequireRecentAuth(sess); err != nil {
		writeError(w, err)
		return
	}
	n, err := s.Manager.RevokeUser(r.Context(), sess.UserID, sess.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := s.client(r)
	s.Manager.Record(r.Context(), sessiond.Event{Type: sessiond.EventRevoked, UserID: sess.UserID, SessionID: sess.ID,
		IPAddress: c.IPAddress, UserAgent: c.UserAgent, Detail: map[string]string{"reason": "revoke_others", "count": strconv.Itoa(n)}})
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// handleReauth: POST /api/auth/reauth {password}: a fresh authentication
// and a new token.
func (s *server) handleReauth(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	sess, ok := s.requireSession(w, r)
	if !ok {
		return
	}
	token, n, err := s.Accounts.Reauthenticate(r.Context(), sess, in.Password, s.client(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerRotated(w, r, token, n)
}

// handleChangePassword: POST /api/auth/password.
func (s *server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	sess, ok := s.requireSession(w, r)
	if !ok {
		return
	}
	token, n, err := s.Accounts.ChangePassword(r.Context(), sess, in.Current, in.New, s.client(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.answerRotated(w, r, token, n)
}

func (s *server) answerRotated(w http.ResponseWriter, r *http.Request, token string, n *sessiond.Session) {
	user, err := s.userOf(r, n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.Cookies.Set(w, token, n.ExpiresAt, s.Now())
	s.writeSession(w, n, user)
}

// handleEvents: GET /api/auth/events?limit=N, the caller's audit trail.
func (s *server) handleEvents(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, sessiond.Errorf(sessiond.CodeInvalidInput, "limit must be from 1 to 1000"))
			return
		}
		limit = n
	}
	sess, ok := s.requireSession(w, r)
	if !ok {
		return
	}
	list, err := s.Manager.Events(r.Context(), sess.UserID, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []*sessiond.Event{}
	}
	writeJSON(w, http.StatusOK, map[string][]*sessiond.Event{"events": list})
}

// fail logs what is not the caller's fault and answers err.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.logIfInternal(r, err)
	writeError(w, err)
}
