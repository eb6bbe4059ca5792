package accounts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
)

// Delegated login modes: which logins go to the backend.
const (
	// DelegateMissing sends a login to the backend only when sessiond holds
	// no user with a password for the email.
	DelegateMissing = "missing"
	// DelegateAll sends every login to the backend.
	DelegateAll = "all"
)

// Delegate bounds: a backend gets DelegateTimeout to answer, and at most
// DelegateMaxAnswer bytes of its answer are read.
const (
	DelegateTimeout   = 3 * time.Second
	DelegateMaxAnswer = 64 << 10
)

// HeaderSignature carries the request's signature when a secret is set:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">", the message the
// webhooks sign, so that the backend knows the request is sessiond's and
// recent.
const HeaderSignature = "X-Sessiond-Signature"

// Delegate asks an existing backend to check a password (delegated
// login): it POSTs {"email", "password"} to URL. 200 with the user's
// identity is a success; 401 or 403 is invalid credentials; anything else
// (another status, a redirect, which is never followed, an answer over
// DelegateMaxAnswer, no answer within Timeout, an identity with control
// characters) is unavailable, which counts as no attempt. The password
// goes to URL only: it is never logged, stored or sent anywhere else, and a
// failed call is not retried.
type Delegate struct {
	URL    string
	Secret []byte           // optional HMAC key; nil sends no signature
	Mode   string           // DelegateMissing (default) or DelegateAll
	Client *http.Client     // default: one that follows no redirects
	Now    func() time.Time // default time.Now
	// Timeout bounds the whole call; default DelegateTimeout.
	Timeout time.Duration
}

// errDelegateUnavailable is what a login sees when the backend could not
// decide: a 503 that counts as no attempt.
var errDelegateUnavailable = sessiond.Errorf(sessiond.CodeUnavailable, "the login service is unavailable; try again shortly")

// Verify asks the backend about email and password and returns the user it
// vouches for.
func (d *Delegate) Verify(ctx context.Context, email, pw string) (*sessiond.ExternalUser, error) {
	body, err := json.Marshal(struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}{email, pw})
	if err != nil {
		return nil, err
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DelegateTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return nil, &sessiond.Error{Code: sessiond.CodeUnavailable, Message: errDelegateUnavailable.Message, Err: errors.New("bad login-verify URL")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if d.Secret != nil {
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		req.Header.Set(HeaderSignature, Sign(d.Secret, now().Unix(), body))
	}
	client := d.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	res, err := client.Do(req)
	if err != nil {
		// The error names the URL and the transport failure; the body,
		// and so the password, is never part of it.
		return nil, unavailable(err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, DelegateMaxAnswer+1))
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return nil, sessiond.ErrInvalidCredentials
	case res.StatusCode != http.StatusOK:
		return nil, unavailable(errors.New("login-verify answered " + strconv.Itoa(res.StatusCode)))
	case err != nil:
		return nil, unavailable(err)
	case len(answer) > DelegateMaxAnswer:
		return nil, unavailable(errors.New("login-verify answer larger than 64 KiB"))
	}
	var out struct {
		UserID          string          `json:"user_id"`
		Email           string          `json:"email"`
		TenantID        string          `json:"tenant_id"`
		NeedsOnboarding bool            `json:"needs_onboarding"`
		OnboardingStep  string          `json:"onboarding_step"`
		Attributes      json.RawMessage `json:"attributes"`
	}
	if err := sessiond.CheckJSON(answer, sessiond.MaxJSONDepth); err != nil {
		return nil, unavailable(errors.New("login-verify answer is not valid JSON"))
	}
	if err := json.Unmarshal(answer, &out); err != nil {
		return nil, unavailable(errors.New("login-verify answer is not the expected JSON object"))
	}
	e := &sessiond.ExternalUser{ID: out.UserID, Email: out.Email, TenantID: out.TenantID,
		NeedsOnboarding: out.NeedsOnboarding, OnboardingStep: out.OnboardingStep, Attributes: out.Attributes}
	if string(e.Attributes) == "null" {
		e.Attributes = nil
	}
	if _, err := checkExternal(e); err != nil {
		var se *sessiond.Error
		msg := err.Error()
		if errors.As(err, &se) {
			msg = se.Message
		}
		return nil, unavailable(errors.New("login-verify answer refused: " + msg))
	}
	return e, nil
}

func unavailable(cause error) error {
	return &sessiond.Error{Code: sessiond.CodeUnavailable, Message: errDelegateUnavailable.Message, Err: cause}
}

// Sign returns the X-Sessiond-Signature value for body sent at t.
func Sign(key []byte, t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// DelegateLogin makes the directory send logins to d as d.Mode says. Call
// it before the Service is used; nil turns delegation off.
func (s *Service) DelegateLogin(d *Delegate) { s.delegate = d }

// check verifies a login's password: locally (verify), or through the
// delegate for the emails its mode covers. A user the backend vouches for
// is recorded with SyncUser, without a password.
func (s *Service) check(ctx context.Context, key, email, pw string) (*sessiond.User, error) {
	d := s.delegate
	if d == nil {
		return s.verify(ctx, key, pw)
	}
	if d.Mode != DelegateAll {
		u, err := s.users.UserByEmailKey(ctx, key)
		switch {
		case err == nil && u.PasswordHash != "":
			return s.verify(ctx, key, pw)
		case err != nil && !errors.Is(err, sessiond.ErrNotFound):
			return nil, storeErr(err)
		}
	}
	e, err := d.Verify(ctx, email, pw)
	if err != nil {
		if !errors.Is(err, sessiond.ErrInvalidCredentials) {
			s.log.Warn("delegated login failed", "err", err)
		}
		return nil, err
	}
	// A user disabled here is ErrInvalidCredentials: the backend cannot
	// sign them in.
	u, err := s.SyncUser(ctx, *e)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return u, sessiond.ErrInvalidCredentials
	}
	return u, nil
}

// delegates reports whether a user without a password here can confirm
// their password through the delegate (re-authentication).
func (s *Service) delegates(u *sessiond.User) bool {
	return s.delegate != nil && u.Email != ""
}

// reverify asks the backend to confirm the password of u, a user it
// vouched for: the answer must name the same user.
func (s *Service) reverify(ctx context.Context, u *sessiond.User, pw string) (*sessiond.User, error) {
	e, err := s.delegate.Verify(ctx, u.Email, pw)
	if err != nil {
		if !errors.Is(err, sessiond.ErrInvalidCredentials) {
			s.log.Warn("delegated re-authentication failed", "user_id", u.ID, "err", err)
		}
		return nil, err
	}
	if e.ID != u.ID || u.Disabled {
		return nil, sessiond.ErrInvalidCredentials
	}
	return u, nil
}
