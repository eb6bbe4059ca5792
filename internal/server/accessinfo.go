package server

import (
	"context"
	"net/http"

	"github.com/sessiond/sessiond"
)

// AccessInfo is what the server learned about a request that its access
// log may print: the public id of the request's valid session, when it
// had one. It never holds the token.
type AccessInfo struct {
	SessionID string
}

type accessInfoKey struct{}

// WithAccessInfo returns r with an AccessInfo the server fills in while it
// serves r; read it after the handler returns.
func WithAccessInfo(r *http.Request) (*http.Request, *AccessInfo) {
	ai := &AccessInfo{}
	return r.WithContext(context.WithValue(r.Context(), accessInfoKey{}, ai)), ai
}

// noteSession records the request's valid session in its AccessInfo.
func noteSession(r *http.Request, sess *sessiond.Session) {
	if ai, ok := r.Context().Value(accessInfoKey{}).(*AccessInfo); ok {
		ai.SessionID = sess.ID
	}
}
