package sessionhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redact"
)

// LegacyUser is what an old backend says about a valid legacy session.
type LegacyUser struct {
	UserID          string
	Email           string
	TenantID        string
	NeedsOnboarding bool
	OnboardingStep  string
	// ExpiresAt, when set, is when the legacy session would have ended:
	// the new session never outlives it (SEC-25).
	ExpiresAt time.Time
}

// ErrLegacyInvalid is what a LegacyValidator returns for a legacy session
// the old backend rejects.
var ErrLegacyInvalid = errors.New("legacy session is not valid")

// LegacyValidator checks legacy cookies with the old backend.
type LegacyValidator interface {
	// ValidateLegacy returns the user of a valid legacy session,
	// ErrLegacyInvalid for an invalid one, and any other error when it
	// cannot tell (the backend is down, slow or answers nonsense).
	ValidateLegacy(ctx context.Context, cookies []*http.Cookie) (*LegacyUser, error)
}

// LegacyValidatorFunc adapts a function, for Go applications that can check
// their old sessions in process.
type LegacyValidatorFunc func(ctx context.Context, cookies []*http.Cookie) (*LegacyUser, error)

// ValidateLegacy calls f.
func (f LegacyValidatorFunc) ValidateLegacy(ctx context.Context, c []*http.Cookie) (*LegacyUser, error) {
	return f(ctx, c)
}

// HTTPValidator asks the old backend: GET URL with the legacy cookies, and
// nothing else of the request, in a Cookie header. 200 with
// {"user_id", "email", "tenant_id", "needs_onboarding", "onboarding_step",
// "expires_at"} is a valid session; 401 or 403 an invalid one; anything else
// (a redirect included), a body over MaxBody or no answer within Timeout is
// an error.
type HTTPValidator struct {
	URL     string
	Timeout time.Duration // default 3s
	MaxBody int64         // default 64 KiB
	Client  *http.Client  // default: one that follows no redirects
}

// ValidateLegacy implements LegacyValidator.
func (v *HTTPValidator) ValidateLegacy(ctx context.Context, cookies []*http.Cookie) (*LegacyUser, error) {
	timeout, maxBody := v.Timeout, v.MaxBody
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	if maxBody <= 0 {
		maxBody = 64 << 10
	}
	client := v.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.URL, nil)
	if err != nil {
		return nil, err
	}
	parts := make([]string, 0, len(cookies))
	for _, c := range cookies {
		parts = append(parts, c.Name+"="+c.Value)
	}
	req.Header.Set("Cookie", strings.Join(parts, "; "))
	req.Header.Set("Accept", "application/json")
	res, err := client.Do(req)
	if err != nil {
		// The client's error names the URL, which may carry a secret.
		return nil, fmt.Errorf("legacy backend: %w", redact.Error(err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("legacy backend: reading the answer: %w", err)
	}
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return nil, ErrLegacyInvalid
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("legacy backend answered %d", res.StatusCode)
	case int64(len(body)) > maxBody:
		return nil, fmt.Errorf("legacy backend answered more than %d bytes", maxBody)
	}
	var in struct {
		UserID          json.RawMessage `json:"user_id"`
		Email           string          `json:"email"`
		TenantID        json.RawMessage `json:"tenant_id"`
		NeedsOnboarding bool            `json:"needs_onboarding"`
		OnboardingStep  json.RawMessage `json:"onboarding_step"`
		ExpiresAt       *time.Time      `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("legacy backend answered something that is not the expected JSON: %v", err)
	}
	u := &LegacyUser{Email: in.Email, NeedsOnboarding: in.NeedsOnboarding,
		UserID: scalar(in.UserID), TenantID: scalar(in.TenantID), OnboardingStep: scalar(in.OnboardingStep)}
	if in.ExpiresAt != nil {
		u.ExpiresAt = *in.ExpiresAt
	}
	if u.UserID == "" {
		return nil, errors.New("legacy backend answered without a user_id")
	}
	// Identity values end up in headers and logs: the backend's are
	// refused where they enter when they hold control characters or are
	// oversized (SEC-24).
	for _, c := range []struct{ field, v string }{
		{"user_id", u.UserID}, {"tenant_id", u.TenantID}, {"email", u.Email}, {"onboarding_step", u.OnboardingStep},
	} {
		if err := sessiond.CheckIdentity(c.field, c.v, sessiond.MaxIDLength); err != nil {
			return nil, fmt.Errorf("legacy backend answered an unusable %s: %w", c.field, err)
		}
	}
	if !u.ExpiresAt.IsZero() && !u.ExpiresAt.After(time.Now()) {
		// The old backend vouches for a session that has ended.
		return nil, ErrLegacyInvalid
	}
	return u, nil
}

// scalar returns a JSON string's or number's text, "" for anything else.
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
