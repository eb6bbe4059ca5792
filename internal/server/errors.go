package server

import (
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
)

var (
	errNotFound    = sessiond.Errorf(sessiond.CodeNotFound, "no such endpoint")
	errInternal    = sessiond.Errorf(sessiond.CodeInternal, "internal error")
	errCrossOrigin = sessiond.Errorf(sessionhttp.CodeCrossOrigin, "cross-origin request denied")
)

// writeError and writeJSON answer through sessionhttp, the one place where
// error codes become HTTP statuses.
func writeError(w http.ResponseWriter, err error) { sessionhttp.WriteError(w, err) }

func writeJSON(w http.ResponseWriter, status int, v any) { sessionhttp.WriteJSON(w, status, v) }

// logIfInternal logs errors that are not the caller's fault. A request
// that its client abandoned fails with the store call it was waiting on:
// that is no outage, and is logged at debug level only.
func (s *server) logIfInternal(r *http.Request, err error) {
	var e *sessiond.Error
	if errors.As(err, &e) && e.Code != sessiond.CodeUnavailable && e.Code != sessiond.CodeInternal {
		return
	}
	if r.Context().Err() != nil {
		s.log.Debug("request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
}
