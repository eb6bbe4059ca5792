package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
)

// Codes of errors that only the HTTP layer produces.
const (
	codeMalformedJSON     = "malformed_json"
	codeUnsupportedMedia  = "unsupported_media_type"
	codeBodyTooLarge      = "body_too_large"
	codeMethodNotAllowed  = "method_not_allowed"
	codeCrossOrigin       = "cross_origin_denied"
	codeAdminUnauthorized = "admin_unauthorized"
)

var (
	errNotFound    = sessiond.Errorf(sessiond.CodeNotFound, "no such endpoint")
	errInternal    = sessiond.Errorf(sessiond.CodeInternal, "internal error")
	errCrossOrigin = sessiond.Errorf(codeCrossOrigin, "cross-origin request denied")
)

// statusByCode is the one place where error codes become HTTP statuses.
var statusByCode = map[string]int{
	sessiond.CodeNotFound:           http.StatusNotFound,
	sessiond.CodeConflict:           http.StatusConflict,
	sessiond.CodeUnavailable:        http.StatusServiceUnavailable,
	sessiond.CodeUnauthenticated:    http.StatusUnauthorized,
	sessiond.CodeInvalidCredentials: http.StatusUnauthorized,
	sessiond.CodeInvalidInput:       http.StatusBadRequest,
	sessiond.CodeBusy:               http.StatusServiceUnavailable,
	sessiond.CodeReauthRequired:     http.StatusForbidden,
	sessiond.CodeInternal:           http.StatusInternalServerError,
	sessiond.CodeLimitReached:       http.StatusConflict,
	sessiond.CodeTooManyRequests:    http.StatusTooManyRequests,
	accounts.CodeWrongPassword:      http.StatusForbidden,
	codeAdminUnauthorized:           http.StatusUnauthorized,
	codeMalformedJSON:               http.StatusBadRequest,
	codeUnsupportedMedia:            http.StatusUnsupportedMediaType,
	codeBodyTooLarge:                http.StatusRequestEntityTooLarge,
	codeMethodNotAllowed:            http.StatusMethodNotAllowed,
	codeCrossOrigin:                 http.StatusForbidden,
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// writeError answers with err's status and {"error": code, "message": text}.
// Errors that are not *sessiond.Error are internal: their text is logged by
// the caller, never sent.
func writeError(w http.ResponseWriter, err error) {
	code := sessiond.ErrorCode(err)
	status, ok := statusByCode[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	msg := sessiond.ErrorMessage(err)
	var e *sessiond.Error
	switch {
	case errors.As(err, &e) && e.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{Error: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal","message":"internal error"}`)
	}
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// logIfInternal logs errors that are not the caller's fault.
func (s *server) logIfInternal(r *http.Request, err error) {
	var e *sessiond.Error
	if errors.As(err, &e) && e.Code != sessiond.CodeUnavailable && e.Code != sessiond.CodeInternal {
		return
	}
	s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
}
