package sessiond

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error codes. They are part of the API: the HTTP server sends them as the
// "error" field of its JSON errors and maps each to one status.
const (
	CodeNotFound           = "not_found"
	CodeConflict           = "conflict"
	CodeUnavailable        = "unavailable"
	CodeUnauthenticated    = "unauthenticated"
	CodeInvalidCredentials = "invalid_credentials"
	CodeInvalidInput       = "invalid_input"
	CodeBusy               = "busy"
	CodeReauthRequired     = "reauth_required"
	CodeLimitReached       = "session_limit_reached"
	CodeTooManyRequests    = "too_many_requests"
	CodeWrongPassword      = "wrong_password"
	CodeInternal           = "internal"
)

// Error is the one error type of sessiond: a code from the list above and a
// message fit for the caller. Err, when set, is the cause, for logs only.
type Error struct {
	Code    string
	Message string
	Err     error
	// RetryAfter, when set, tells the caller when to try again (the HTTP
	// server sends it as Retry-After).
	RetryAfter time.Duration

	// class marks the sentinels below, each of which stands for every
	// error of its code; any other *Error is only itself as a target.
	class bool
}

// Sentinels, to test with errors.Is: each matches every *Error of its code.
// A more specific error (sessionhttp.ErrAmbiguous) matches its class
// sentinel, but the class sentinel does not match it.
var (
	// ErrNotFound: the record does not exist (stores return it).
	ErrNotFound = &Error{Code: CodeNotFound, Message: "not found", class: true}
	// ErrConflict: a precondition failed (duplicate key, stale version).
	ErrConflict = &Error{Code: CodeConflict, Message: "conflict", class: true}
	// ErrUnavailable: the store could not answer. Never read it as "no
	// session": it is a 503, not a logout.
	ErrUnavailable = &Error{Code: CodeUnavailable, Message: "session store unavailable", class: true}
	// ErrUnauthenticated: no valid session (missing, malformed, unknown,
	// expired or revoked token).
	ErrUnauthenticated = &Error{Code: CodeUnauthenticated, Message: "no valid session", class: true}
	// ErrInvalidCredentials: unknown email, wrong password or disabled
	// user, deliberately indistinguishable.
	ErrInvalidCredentials = &Error{Code: CodeInvalidCredentials, Message: "invalid email or password", class: true}
	// ErrInvalidInput: the request itself is wrong.
	ErrInvalidInput = &Error{Code: CodeInvalidInput, Message: "invalid input", class: true}
	// ErrLimitReached: the user has as many sessions as allowed and the
	// policy is to refuse new ones.
	ErrLimitReached = &Error{Code: CodeLimitReached, Message: "too many active sessions; sign out elsewhere first", class: true}
	// ErrReauthRequired: the action needs a recent password check.
	ErrReauthRequired = &Error{Code: CodeReauthRequired, Message: "please confirm your password", class: true}
	// ErrBusy: a bounded resource (password hashing) is saturated.
	ErrBusy = &Error{Code: CodeBusy, Message: "server busy, retry shortly", class: true}
)

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("sessiond: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("sessiond: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is one of the class sentinels above with the
// same code, so that errors.Is(err, ErrNotFound) holds for every not-found
// error. Any other *Error target matches only itself (errors.Is compares
// identity first): errors.Is(ErrUnauthenticated, sessionhttp.ErrAmbiguous)
// is false, errors.Is(sessionhttp.ErrAmbiguous, ErrUnauthenticated) true.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.class && t.Code == e.Code
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the caller-facing message of err: the message of its
// *Error, or a generic text that reveals no internals.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// unavailable wraps a system error from a store.
func unavailable(op string, err error) error {
	return &Error{Code: CodeUnavailable, Message: ErrUnavailable.Message, Err: fmt.Errorf("%s: %w", op, err)}
}

// WrapStoreError is the last step of a store's error translation, after its
// driver's own cases (no rows, unique violation): our own errors pass
// through, a context's cancellation or deadline stays recognizable with
// errors.Is, and anything else becomes an error that names the store and no
// driver type.
func WrapStoreError(store string, err error) error {
	if err == nil {
		return nil
	}
	var own *Error
	if errors.As(err, &own) {
		return err
	}
	for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, ctxErr) {
			return fmt.Errorf("%s: %w", store, ctxErr)
		}
	}
	return fmt.Errorf("%s: %v", store, err)
}
