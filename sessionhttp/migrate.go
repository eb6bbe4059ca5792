package sessionhttp

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
)

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
	// parent domain they were also set on. A name may be a pattern, as
	// path.Match reads it: "dott_*" is every cookie whose name starts with
	// dott_ ("*" any run of characters, "?" one, "[a-z]" a class, "\\"
	// escapes). CheckCookiePattern checks one. The session cookie is never
	// a legacy cookie, whatever a pattern matches.
	CookieNames  []string
	CookieDomain string
	// CredentialNames are the legacy cookies that identify a legacy
	// session (a session cookie, a backend token), as opposed to state
	// (onboarding flags). One legacy credential migrates once: the replay
	// guard keys on these alone, so that adding or changing another
	// legacy cookie does not make a stolen credential new again. Empty:
	// all of CookieNames. These are exact names, never patterns.
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
	// off is the rollback switch (SetEnabled): a Migrator starts on.
	off atomic.Bool
	// KeepLegacy is the shadow period: how long a migrated browser keeps
	// its legacy cookies, so that switching the application back to the
	// old scheme logs nobody out. Legacy cookies that come beside a valid
	// session younger than KeepLegacy (made by the migration, or a login)
	// are left alone; beside an older one they are expired (ExpireBeside).
	// Zero expires them at the migration itself. A credential that was
	// refused (invalid, or a replay) is expired at once whatever the
	// period. A kept credential is remembered by the replay guard for
	// KeepLegacy + ReplayRetention: a device whose session was revoked
	// meanwhile meets the guard, not a new session, however late it
	// comes back within that time (and has the cookies expired then).
	// Past it, a credential the old backend still accepts migrates
	// again: end the legacy session on the old backend too when revoking
	// a device during a shadow period.
	KeepLegacy time.Duration
	// ShareWindow defaults to 30s; ReplayRetention to 720h (30 days).
	ShareWindow     time.Duration
	ReplayRetention time.Duration
	// Observe, when set, is told every outcome (for metrics).
	Observe func(outcome Outcome)
	Logger  *slog.Logger
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
		if c.Value != "" && m.isLegacy(c.Name) {
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

// isLegacy reports whether a cookie of that name is a legacy cookie: one
// of CookieNames, or matched by one of its patterns, and not the session
// cookie.
func (m *Migrator) isLegacy(name string) bool {
	for _, n := range m.CookieNames {
		if n == name || isPattern(n) && matchCookie(n, name) {
			return m.Sessions == nil || m.Sessions.Cookies == nil || !isSessionCookie(m.Sessions.Cookies.Name(), name)
		}
	}
	return false
}

// HasLegacy reports whether the request carries a legacy cookie and
// migration is on.
func (m *Migrator) HasLegacy(r *http.Request) bool {
	return m.Enabled() && m.CarriesLegacy(r)
}

// CarriesLegacy reports whether the request carries a legacy cookie,
// whether migration is on or off: a logout expires them either way.
func (m *Migrator) CarriesLegacy(r *http.Request) bool { return len(m.legacy(r)) > 0 }

// Enabled reports whether migration is on. A Migrator starts on.
func (m *Migrator) Enabled() bool { return !m.off.Load() }

// SetEnabled turns migration on or off at run time, safely beside requests
// in flight, and returns whether it was on. Off is the rollback switch:
// legacy cookies are left alone (neither migrated nor expired), and
// sessions already created are untouched. It switches this Migrator only:
// every node of a deployment has its own.
func (m *Migrator) SetEnabled(on bool) (was bool) { return !m.off.Swap(!on) }

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
	token, sess, err := m.Sessions.Manager.Create(ctx, sessiond.SessionParams{
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
				ShareUntil: now.Add(m.shareWindow()), ExpiresAt: now.Add(m.KeepLegacy + m.replayRetention())})
		}
		if err != nil {
			m.logger().Warn("migration record not saved; parallel requests may not share the session", "err", err)
		}
	}
	m.Sessions.Manager.Record(ctx, sessiond.Event{Type: sessiond.EventMigrated, UserID: sess.UserID, SessionID: sess.ID,
		IPAddress: c.IPAddress, UserAgent: c.UserAgent})
	return Result{Outcome: OutcomeMigrated, Token: token, Session: sess}
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
	return DefaultReplayRetention
}

// DefaultReplayRetention is how long the replay guard remembers a migrated
// legacy credential unless Migrator.ReplayRetention says otherwise.
const DefaultReplayRetention = 30 * 24 * time.Hour

func (m *Migrator) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}
