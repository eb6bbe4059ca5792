package sessionhttp

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
)

// Status returns the HTTP status for an error code. It is the one table of
// sessiond: the server and the middleware both use it.
func Status(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Codes of errors that only the HTTP layer produces.
const (
	CodeMalformedJSON      = "malformed_json"
	CodeUnsupportedMedia   = "unsupported_media_type"
	CodeBodyTooLarge       = "body_too_large"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeCrossOrigin        = "cross_origin_denied"
	CodeAdminUnauthorized  = "admin_unauthorized"
	CodeBadForwardedHeader = "bad_forwarded_header"
	CodeTooManyStreams     = "too_many_streams"
)

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
	sessiond.CodeWrongPassword:      http.StatusForbidden,
	CodeMalformedJSON:               http.StatusBadRequest,
	CodeUnsupportedMedia:            http.StatusUnsupportedMediaType,
	CodeBodyTooLarge:                http.StatusRequestEntityTooLarge,
	CodeMethodNotAllowed:            http.StatusMethodNotAllowed,
	CodeCrossOrigin:                 http.StatusForbidden,
	CodeAdminUnauthorized:           http.StatusUnauthorized,
	CodeBadForwardedHeader:          http.StatusBadRequest,
	CodeTooManyStreams:              http.StatusTooManyRequests,
}

// WriteError answers with err's status and {"error": code, "message": text}.
// Errors that are not *sessiond.Error are internal: their text is never
// sent.
func WriteError(w http.ResponseWriter, err error) {
	code := sessiond.ErrorCode(err)
	status := Status(code)
	var e *sessiond.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	} else if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	WriteJSON(w, status, struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{code, sessiond.ErrorMessage(err)})
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
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

// Shared values of constant headers save an allocation per response;
// net/http never modifies them.
var (
	headerJSON    = []string{"application/json"}
	headerNoSniff = []string{"nosniff"}
)
