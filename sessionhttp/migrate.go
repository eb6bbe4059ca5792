package sessionhttp

import (
	"bytes"
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
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

// Outcome is how one migration attempt ended, as logged and counted.
type Outcome string

// Migration outcomes.
const (
	OutcomeMigrated     Outcome = "migrated"
	OutcomeDeduplicated Outcome = "deduplicated"
	OutcomeInvalid      Outcome = "invalid"
	OutcomeBackendError Outcome = "backend_error"
	OutcomeReplay       Outcome = "replay_refused"
	OutcomeStoreError   Outcome = "store_error"
	OutcomeThrottled    Outcome = "throttled"
)

// Migrated reports whether the attempt produced a session (a new one, or
// the one a parallel request made): the caller sets its cookie.
func (o Outcome) Migrated() bool { return o == OutcomeMigrated || o == OutcomeDeduplicated }

// Refused reports whether the legacy credential will never migrate
// (invalid, ended, or a replay): its cookies are expired and the request
// goes on without a session.
func (o Outcome) Refused() bool { return o == OutcomeInvalid || o == OutcomeReplay }

// Unknown reports whether the attempt could not tell (the old backend or
// the store failed, or the address is throttled): the legacy cookies are
// kept, so that a later attempt can still migrate them.
func (o Outcome) Unknown() bool { return !o.Migrated() && !o.Refused() }

// Migrator moves users from legacy cookies to one session cookie without
// logging them out (SEC-25): it validates the legacy cookies with the old
// backend, mints a session, expires every legacy cookie (host-only and on
// the parent domain) and sends the browser back to the same URL.
//
// One legacy credential mints one session. The first request to see it
// claims it in the store and asks the old backend; parallel requests (a page
// load fires many, possibly at different nodes) wait for that answer and get
// the same session: its token is kept, for ShareWindow, under a hash of the
// legacy credential and encrypted with a key derived from the credential
// itself, so only its holder can open it. After the window a replay mints
// nothing until ReplayRetention has passed.
type Migrator struct {
	Sessions  *Sessions
	Store     sessiond.MigrationStore
	Validator LegacyValidator
	// CookieNames are the legacy cookies; CookieDomain, when set, is the
	// parent domain they were also set on.
	CookieNames  []string
	CookieDomain string
	// CredentialNames are the legacy cookies that identify a legacy
	// session (a session cookie, a backend token), as opposed to state
	// (onboarding flags). One legacy credential migrates once: the replay
	// guard keys on these alone, so that adding or changing another
	// legacy cookie does not make a stolen credential new again. Empty:
	// all of CookieNames.
	CredentialNames []string
	// Attempts, when set, limits the legacy credentials one client
	// address may submit that do not migrate (invalid, refused by the old
	// backend): AttemptBackoff of them free per AttemptWindow, then an
	// exponential back-off (OutcomeThrottled). Defaults: 20 free, 1s to
	// 1m, a window of 10m.
	Attempts       sessiond.CounterStore
	AttemptBackoff sessiond.Backoff
	AttemptWindow  time.Duration
	// Now is the clock of the share window, the replay guard and the
	// attempt counters. Default time.Now.
	Now func() time.Time
	// Enabled is the rollback switch: while it holds false, legacy cookies
	// are left alone. Sessions already created are untouched.
	Enabled atomic.Bool
	// ShareWindow defaults to 30s; ReplayRetention to 720h (30 days).
	ShareWindow     time.Duration
	ReplayRetention time.Duration
	// Observe, when set, is told every outcome (for metrics).
	Observe func(outcome Outcome)
	Log     *slog.Logger
	// Users, when set, records what the old backend says of the user
	// (email, onboarding state) in a user record that only the server
	// writes, before the session is made (*accounts.Service is one).
	// Identity is never kept in the session's data, which the browser may
	// rewrite (SEC-27): without Users, a migrated session carries only its
	// user and tenant ids. An error that is sessiond.ErrInvalidCredentials
	// (a user disabled here) makes the legacy session invalid; any other
	// leaves it unmigrated.
	Users UserSyncer
}

// UserSyncer creates or refreshes the record of a user that a trusted
// source vouches for, and says whether a session may be kept for a user
// (Admit: ErrInvalidCredentials for a disabled one), read past every cache.
type UserSyncer interface {
	SyncUser(ctx context.Context, u sessiond.ExternalUser) (*sessiond.User, error)
	Admit(ctx context.Context, userID, tenantID string) error
}

// legacy returns the request's legacy cookies, sorted by name then value.
func (m *Migrator) legacy(r *http.Request) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range r.Cookies() {
		if c.Value != "" && slices.Contains(m.CookieNames, c.Name) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *http.Cookie) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}

// HasLegacy reports whether the request carries a legacy cookie and
// migration is on.
func (m *Migrator) HasLegacy(r *http.Request) bool {
	return m.Enabled.Load() && len(m.legacy(r)) > 0
}

// Result is the outcome of one migration attempt.
type Result struct {
	Outcome Outcome
	Token   string
	Session *sessiond.Session
}

// Migrate runs the migration for the request's legacy cookies. With a
// result of OutcomeMigrated or OutcomeDeduplicated the caller sets the
// session cookie; with OutcomeInvalid or OutcomeReplay it expires the
// legacy cookies; otherwise it leaves them alone.
func (m *Migrator) Migrate(ctx context.Context, r *http.Request) Result {
	res := m.migrate(ctx, r)
	attrs := []any{"event", "migration", "outcome", res.Outcome}
	if res.Session != nil {
		attrs = append(attrs, "user_id", res.Session.UserID, "session_id", res.Session.ID)
	}
	m.logger().Info("audit", attrs...)
	if m.Observe != nil {
		m.Observe(res.Outcome)
	}
	return res
}

func (m *Migrator) migrate(ctx context.Context, r *http.Request) Result {
	cookies := m.legacy(r)
	creds := m.credentials(cookies)
	size := 0
	for _, c := range creds {
		size += len(c)
	}
	if len(creds) == 0 || size > 16<<10 {
		// Only state cookies, no credential: nothing to migrate. No
		// legitimate legacy credential is that large either; neither is
		// worth a call to the old backend.
		return Result{Outcome: OutcomeInvalid}
	}
	// One record per credential value: a replay that brings one already
	// migrated beside others (a thief's junk copy, a stale copy on the
	// parent domain) finds it claimed and mints nothing.
	keys := make([]sessiond.TokenHash, len(creds))
	seals := make([]sessiond.TokenHash, len(creds))
	for i, c := range creds {
		keys[i] = derive("sessiond/migration/id", c)
		seals[i] = derive("sessiond/migration/key", c)
	}
	now := m.now()
	for i, key := range keys {
		rec, claimed, err := m.Store.ClaimMigration(ctx, key, now, now.Add(15*time.Second))
		if err != nil {
			m.logger().Warn("migration store error", "err", err)
			m.drop(ctx, keys[:i])
			return Result{Outcome: OutcomeStoreError}
		}
		if !claimed {
			m.drop(ctx, keys[:i])
			return m.follow(ctx, r, rec, seals[i])
		}
	}
	invalid := func() Result {
		for _, key := range keys {
			m.finish(ctx, &sessiond.Migration{Key: key, State: sessiond.MigrationInvalid, ShareUntil: now.Add(m.shareWindow()), ExpiresAt: now.Add(m.shareWindow())})
		}
		return Result{Outcome: OutcomeInvalid}
	}
	release, ok := m.reserveAttempt(ctx, r, now)
	if !ok {
		m.drop(ctx, keys)
		return Result{Outcome: OutcomeThrottled}
	}
	lu, err := m.Validator.ValidateLegacy(ctx, cookies)
	if err == nil {
		release() // only credentials that do not migrate count
	}
	if errors.Is(err, ErrLegacyInvalid) {
		return invalid()
	}
	if err != nil {
		m.logger().Warn("legacy backend error", "err", err)
		m.drop(ctx, keys)
		return Result{Outcome: OutcomeBackendError}
	}
	if m.Users != nil {
		_, err := m.Users.SyncUser(ctx, sessiond.ExternalUser{ID: lu.UserID, Email: lu.Email, TenantID: lu.TenantID,
			NeedsOnboarding: lu.NeedsOnboarding, OnboardingStep: lu.OnboardingStep})
		if errors.Is(err, sessiond.ErrInvalidCredentials) {
			return invalid()
		}
		if err != nil {
			m.logger().Warn("the legacy user could not be recorded", "user_id", lu.UserID, "err", err)
			m.drop(ctx, keys)
			return Result{Outcome: OutcomeBackendError}
		}
	}
	c := m.client(r)
	token, sess, err := m.Sessions.Manager.Create(ctx, sessiond.NewSession{
		UserID: lu.UserID, TenantID: lu.TenantID, IPAddress: c.IPAddress, UserAgent: c.UserAgent,
		NotAfter: lu.ExpiresAt,
	})
	if err != nil {
		m.logger().Warn("migration could not create a session", "err", err)
		m.drop(ctx, keys)
		return Result{Outcome: OutcomeStoreError}
	}
	// A disable between the record and the session (it updates the user,
	// then revokes) must leave no session: read the user again now that
	// the session exists, as a login does (SEC-37).
	if m.Users != nil {
		if err := m.Users.Admit(ctx, lu.UserID, ""); err != nil {
			if rerr := m.Sessions.Manager.Revoke(context.WithoutCancel(ctx), sess.ID); rerr != nil {
				m.logger().Warn("could not end a session whose user was disabled during the migration", "session_id", sess.ID, "err", rerr)
			}
			if errors.Is(err, sessiond.ErrInvalidCredentials) {
				return invalid()
			}
			m.drop(ctx, keys)
			return Result{Outcome: OutcomeStoreError}
		}
	}
	for i, key := range keys {
		sealed, err := sealToken(seals[i], token)
		if err == nil {
			err = m.finish(ctx, &sessiond.Migration{Key: key, State: sessiond.MigrationDone, Sealed: sealed,
				ShareUntil: now.Add(m.shareWindow()), ExpiresAt: now.Add(m.replayRetention())})
		}
		if err != nil {
			m.logger().Warn("migration record not saved; parallel requests may not share the session", "err", err)
		}
	}
	m.Sessions.Manager.Record(ctx, sessiond.Event{Type: "migrated", UserID: sess.UserID, SessionID: sess.ID,
		IPAddress: c.IPAddress, UserAgent: c.UserAgent})
	return Result{Outcome: OutcomeMigrated, Token: token, Session: sess}
}

// drop removes the pending claims of keys: the attempt ended without an
// answer, and a later one may ask again.
func (m *Migrator) drop(ctx context.Context, keys []sessiond.TokenHash) {
	for _, key := range keys {
		m.Store.DeleteMigration(context.WithoutCancel(ctx), key)
	}
}

// credentials returns what identifies the request's legacy credential for
// the replay guard, one entry per value. With CredentialNames it is each
// value of the first of those names the request carries, in their order:
// a thief who adds another credential cookie (junk the old backend
// ignores) or changes a state cookie presents the same credential, and a
// request with several values under that name (a host-only cookie and a
// stale one on the parent domain, or a thief's junk copy) is recorded
// under each, so that none of them migrates twice. Without
// CredentialNames, every legacy cookie together is one credential.
func (m *Migrator) credentials(cookies []*http.Cookie) [][]byte {
	if len(m.CredentialNames) == 0 {
		var all bytes.Buffer
		for _, c := range cookies {
			all.WriteString(c.Name + "=" + c.Value + "\n")
		}
		if all.Len() == 0 {
			return nil
		}
		return [][]byte{all.Bytes()}
	}
	for _, name := range m.CredentialNames {
		var out [][]byte
		last := ""
		for _, c := range cookies { // sorted by name, then value
			// The same value twice (host-only and on the parent domain)
			// is one credential.
			if c.Name == name && (len(out) == 0 || c.Value != last) {
				out = append(out, []byte(name+"="+c.Value+"\n"))
				last = c.Value
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// reserveAttempt takes one of the client address's attempts, atomically
// in the shared store. release gives it back. ok is false when the address
// is waiting out its back-off. A store error lets the attempt through: the
// claim already proved the store answers, and the old backend has its own
// defences.
func (m *Migrator) reserveAttempt(ctx context.Context, r *http.Request, now time.Time) (release func(), ok bool) {
	ip := m.client(r).IPAddress
	if m.Attempts == nil || ip == "" {
		return func() {}, true
	}
	b := m.AttemptBackoff
	if b == (sessiond.Backoff{}) {
		b = sessiond.Backoff{Free: 20, Base: time.Second, Max: time.Minute}
	}
	window := cmp.Or(m.AttemptWindow, 10*time.Minute)
	key := "migrate:address:" + sessiond.AddressKey(ip)
	granted, err := m.Attempts.ReserveCounter(ctx, key, now, window, b)
	if err != nil {
		m.logger().Warn("migration attempt not counted", "err", err)
		return func() {}, true
	}
	if !granted {
		return nil, false
	}
	return func() {
		if err := m.Attempts.ReleaseCounter(context.WithoutCancel(ctx), key); err != nil {
			m.logger().Warn("migration attempt not given back", "err", err)
		}
	}, true
}

// follow handles a legacy credential that another request claimed: wait
// for a pending claim, then share its session, or refuse a replay.
func (m *Migrator) follow(ctx context.Context, r *http.Request, rec *sessiond.Migration, seal sessiond.TokenHash) Result {
	deadline := time.Now().Add(5 * time.Second)
	for rec.State == sessiond.MigrationPending {
		if time.Now().After(deadline) {
			return Result{Outcome: OutcomeBackendError}
		}
		select {
		case <-ctx.Done():
			return Result{Outcome: OutcomeBackendError}
		case <-time.After(20 * time.Millisecond):
		}
		var err error
		rec, err = m.Store.MigrationByKey(ctx, rec.Key)
		if errors.Is(err, sessiond.ErrNotFound) {
			// The claimant gave up (the backend failed): go on unmigrated.
			return Result{Outcome: OutcomeBackendError}
		}
		if err != nil {
			return Result{Outcome: OutcomeStoreError}
		}
	}
	switch {
	case rec.State == sessiond.MigrationInvalid:
		return Result{Outcome: OutcomeInvalid}
	case m.now().After(rec.ShareUntil):
		return Result{Outcome: OutcomeReplay}
	}
	token, err := openToken(seal, rec.Sealed)
	if err != nil {
		return Result{Outcome: OutcomeReplay}
	}
	sess, err := m.Sessions.Manager.ValidateClient(ctx, token, m.client(r))
	if errors.Is(err, sessiond.ErrUnauthenticated) {
		return Result{Outcome: OutcomeReplay}
	}
	if err != nil {
		return Result{Outcome: OutcomeStoreError}
	}
	return Result{Outcome: OutcomeDeduplicated, Token: token, Session: sess}
}

func (m *Migrator) finish(ctx context.Context, rec *sessiond.Migration) error {
	return m.Store.FinishMigration(context.WithoutCancel(ctx), rec)
}

func (m *Migrator) client(r *http.Request) sessiond.Client {
	if m.Sessions.Client != nil {
		return m.Sessions.Client(r)
	}
	return sessiond.Client{}
}

func (m *Migrator) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Migrator) shareWindow() time.Duration {
	if m.ShareWindow > 0 {
		return m.ShareWindow
	}
	return 30 * time.Second
}

func (m *Migrator) replayRetention() time.Duration {
	if m.ReplayRetention > 0 {
		return m.ReplayRetention
	}
	return 30 * 24 * time.Hour
}

func (m *Migrator) logger() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

// ExpireLegacy adds Set-Cookie headers that expire every legacy cookie,
// host-only and, when configured, on the parent domain.
func (m *Migrator) ExpireLegacy(w http.ResponseWriter) {
	for _, name := range m.CookieNames {
		w.Header().Add("Set-Cookie", name+"=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
		if m.CookieDomain != "" {
			w.Header().Add("Set-Cookie", name+"=; Path=/; Domain="+m.CookieDomain+"; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
		}
	}
}

// Middleware migrates requests that carry legacy cookies and no valid
// session: on success the browser is sent back to the same URL with the new
// cookie (303 for GET and HEAD; 307 for other methods, so that the body is
// sent again). An invalid legacy session has its cookies expired and the
// request goes on unauthenticated; a backend failure leaves everything as it
// was. A request with a valid session keeps it, and its legacy cookies are
// expired.
func (m *Migrator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.HasLegacy(r) {
			next.ServeHTTP(w, r)
			return
		}
		if _, _, err := m.Sessions.Cookies.Session(r.Context(), m.Sessions.Manager, r, sessiond.Client{}); err == nil {
			m.ExpireLegacy(w)
			next.ServeHTTP(w, r)
			return
		}
		res := m.Migrate(r.Context(), r)
		m.Finish(w, res)
		if res.Outcome.Migrated() {
			// Back to where the request was going, but only ever a local
			// path: a request target such as "//evil.example/x" would
			// otherwise become a redirect off the site.
			back, ok := SafeRedirect(r.URL.RequestURI(), nil)
			if !ok {
				back = "/"
			}
			http.Redirect(w, r, back, BackStatus(r.Method))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Finish writes the cookies an outcome asks for: a migrated one expires the
// legacy cookies and sets the session cookie, a refused one expires the
// legacy cookies, an unknown one leaves them. It is the one place that
// turns an outcome into cookies, for the middleware and for the server's
// endpoints alike.
func (m *Migrator) Finish(w http.ResponseWriter, res Result) {
	switch {
	case res.Outcome.Migrated():
		m.ExpireLegacy(w)
		m.Sessions.Cookies.Set(w, res.Token, res.Session.ExpiresAt, m.now())
	case res.Outcome.Refused():
		m.ExpireLegacy(w)
	}
}

// BackStatus is the status of the redirect that sends a migrated request
// back to where it was going: 303 for GET and HEAD, 307 for other methods,
// so that the browser sends the body again.
func BackStatus(method string) int {
	if method != "" && method != http.MethodGet && method != http.MethodHead {
		return http.StatusTemporaryRedirect
	}
	return http.StatusSeeOther
}

func derive(label string, secret []byte) sessiond.TokenHash {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(secret)
	var out sessiond.TokenHash
	copy(out[:], h.Sum(nil))
	return out
}

func sealToken(key sessiond.TokenHash, token string) ([]byte, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, []byte(token), nil), nil
}

func openToken(key sessiond.TokenHash, sealed []byte) (string, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(sealed) < gcm.NonceSize() {
		return "", errors.New("sealed token too short")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}
