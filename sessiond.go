// Package sessiond is server-side session management: the vocabulary
// (Session, User, the store interfaces, errors) and the policy engine
// (Manager) shared by the sessiond server and by Go applications that embed
// it as net/http middleware.
//
// The browser holds one opaque cookie whose value is a random Token. The
// server keeps everything else, keyed by the SHA-256 of that token, so a
// leaked database never yields a usable cookie.
//
// This package imports the standard library only; stores live in their own
// packages (sqlitestore, pgstore, redisstore) and every one of them passes the
// conformance suite in storetest.
package sessiond

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Session is one signed-in device. Stores persist every field; the token
// itself is never part of a Session, only its hash.
type Session struct {
	// ID is the public handle shown in device lists and used to revoke one
	// device. It is a random UUID and never a credential.
	ID string
	// TokenHash is the SHA-256 of the cookie value; stores key on it.
	TokenHash TokenHash

	UserID   string
	TenantID string

	IPAddress string
	UserAgent string

	CreatedAt       time.Time
	LastActivity    time.Time
	ExpiresAt       time.Time // absolute deadline; activity never moves it
	AuthenticatedAt time.Time // last password check (login, re-authentication)

	// Data is a small JSON object owned by the application. It is nil or a
	// JSON object, never another JSON value.
	Data json.RawMessage
	// Version counts updates of Data; UpdateData is conditional on it.
	Version int64

	// Flags are anomaly findings recorded on the session.
	Flags []string

	// user is the session's user when the Manager read it together with
	// the session (SessionUserReader). Set before the session is shared,
	// never changed after. Nil otherwise, and when no user had UserID: a
	// user created later must not be hidden by a cached absence.
	user *User
}

// Device is the label shown for the session's user agent, such as
// "Chrome on macOS".
func (s *Session) Device() string { return deviceLabel(s.UserAgent) }

// clone returns a deep copy, so that cached sessions are never shared with
// callers that might change them.
func (s *Session) clone() *Session {
	c := *s
	if s.Data != nil {
		c.Data = append(json.RawMessage(nil), s.Data...)
	}
	if s.Flags != nil {
		c.Flags = append([]string(nil), s.Flags...)
	}
	return &c
}

// Touch records that a session was active at At. Stores apply it only when
// it moves LastActivity forward and the session still exists.
type Touch struct {
	ID string
	At time.Time
}

// SessionStore persists sessions. Implementations must be safe for
// concurrent use by many goroutines and, for shared stores, by many
// processes.
//
// Errors: a missing record is ErrNotFound; a failed precondition (an existing
// ID or token hash on Create, a stale version on UpdateData) is ErrConflict;
// anything else (a lost connection, a timeout, a full disk) is a system error
// that the Manager reports as ErrUnavailable and never as "logged out" or
// "valid". Drivers' error types never cross this interface.
//
// Stores do not judge expiry: they return what they hold, and the Manager
// decides whether it is still live. DeleteExpiredSessions is the only method
// that reasons about deadlines; a store may also drop a session by itself
// once its absolute deadline has passed by the wall clock (Redis key TTLs).
//
// No method creates a session as a side effect. Every update is conditional
// on the record existing, so an update racing a delete never resurrects it.
type SessionStore interface {
	// CreateSession inserts s. It returns ErrConflict when a session with
	// the same ID or TokenHash exists.
	CreateSession(ctx context.Context, s *Session) error

	// SessionByTokenHash returns the session stored under h, or ErrNotFound.
	SessionByTokenHash(ctx context.Context, h TokenHash) (*Session, error)

	// SessionByID returns the session with the public id, or ErrNotFound.
	SessionByID(ctx context.Context, id string) (*Session, error)

	// SessionsByUser returns the user's sessions, expired ones included, in
	// no particular order. It is an index lookup, never a scan of all
	// sessions.
	SessionsByUser(ctx context.Context, userID string) ([]*Session, error)

	// TouchSessions sets LastActivity for each touch whose session exists
	// and whose stored LastActivity is older. Missing sessions are skipped
	// silently: they were revoked meanwhile.
	TouchSessions(ctx context.Context, touches []Touch) error

	// UpdateSessionData replaces Data when the stored Version equals
	// version, and stores version+1. It returns ErrNotFound when the
	// session is gone and ErrConflict when the version is stale.
	UpdateSessionData(ctx context.Context, id string, data json.RawMessage, version int64) error

	// RotateSession atomically deletes the session oldID and inserts s. It
	// returns ErrNotFound, and inserts nothing, when oldID no longer exists.
	RotateSession(ctx context.Context, oldID string, s *Session) error

	// DeleteSession deletes the session with the public id. It returns
	// ErrNotFound when there was none.
	DeleteSession(ctx context.Context, id string) error

	// DeleteUserSessions deletes every session of the user except the one
	// whose ID is except (empty for none) and returns how many it deleted.
	DeleteUserSessions(ctx context.Context, userID, except string) (int, error)

	// CreateSessionLimited inserts s unless its user already has lim.Max
	// live sessions (live: ExpiresAt after lim.Now and LastActivity after
	// lim.IdleBefore). At the cap it either deletes the least recently
	// active live sessions to make room (lim.Evict) and returns them, or
	// inserts nothing and returns ErrLimitReached. It is atomic with
	// respect to concurrent calls for the same user: parallel logins never
	// exceed the cap.
	CreateSessionLimited(ctx context.Context, s *Session, lim Limit) (evicted []*Session, err error)

	// SetSessionFlags replaces the session's anomaly flags. It returns
	// ErrNotFound when the session is gone.
	SetSessionFlags(ctx context.Context, id string, flags []string) error

	// DeleteTenantSessions deletes every session of the tenant and returns
	// how many it deleted.
	DeleteTenantSessions(ctx context.Context, tenantID string) (int, error)

	// DeleteExpiredSessions deletes at most limit sessions whose ExpiresAt
	// is not after now or whose LastActivity is not after idleBefore, and
	// returns how many it deleted. A caller purges everything by calling
	// it until it returns fewer than limit.
	DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time, limit int) (int, error)

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
}

// Limit is a per-user cap on live sessions; see CreateSessionLimited.
type Limit struct {
	Max        int
	Evict      bool
	Now        time.Time
	IdleBefore time.Time
}

// Change names a session, user or tenant that some process changed or
// deleted, or carries a probe that a Manager sent through the feed to prove
// it live (see FeedProber). Exactly one field is set.
type Change struct {
	SessionID string
	UserID    string
	TenantID  string
	Probe     string
}

// String encodes the change for a store's notification channel:
// "s:<session id>", "u:<user id>", "t:<tenant id>" or "p:<probe>".
// ParseChange reads it back.
func (c Change) String() string {
	switch {
	case c.SessionID != "":
		return "s:" + c.SessionID
	case c.UserID != "":
		return "u:" + c.UserID
	case c.Probe != "":
		return "p:" + c.Probe
	}
	return "t:" + c.TenantID
}

// maxChangeSize bounds a change as encoded on a store's channel: a kind,
// a colon and an id of at most MaxIDLength bytes (a probe is shorter).
// Anyone who can reach the channel can send anything on it (SEC-36), so
// ParseChange refuses what is longer before it is looked at.
const maxChangeSize = 2 + MaxIDLength

// ParseChange decodes what Change.String encoded; ok is false for anything
// else: an unknown kind, an empty id, or more than MaxChangeSize bytes.
func ParseChange(s string) (c Change, ok bool) {
	if len(s) > maxChangeSize {
		return Change{}, false
	}
	kind, id, found := strings.Cut(s, ":")
	if !found || id == "" {
		return Change{}, false
	}
	switch kind {
	case "s":
		return Change{SessionID: id}, true
	case "u":
		return Change{UserID: id}, true
	case "t":
		return Change{TenantID: id}, true
	case "p":
		return Change{Probe: id}, true
	}
	return Change{}, false
}

// ChangeWatcher is an optional capability of a store shared by several
// processes: it reports changes made by any of them, so that a Manager can
// drop what it caches.
//
// WatchChanges blocks until ctx ends or the channel to the store is lost.
// It calls connected once the feed is live; from then on every change
// committed by any process reaches onChange, in commit order, within the
// store's documented delay. When it returns, changes may have been missed and
// the caller must distrust whatever it cached.
type ChangeWatcher interface {
	WatchChanges(ctx context.Context, connected func(), onChange func(Change)) error
}

// FeedProber is an optional capability of a ChangeWatcher whose feed can die
// without the watcher knowing at once: a pub/sub or LISTEN connection that a
// store's restart or a network partition cut, still looking open. ProbeFeed
// publishes Change{Probe: probe} on the same channel as every other change,
// through the store's ordinary connection; the watchers receive it after
// every change published before it. A Manager probes continually and trusts
// its cache only while a probe it sent recently came back (Config.FeedLease).
type FeedProber interface {
	ProbeFeed(ctx context.Context, probe string) error
}

// User is an account of the built-in user store. Applications with their own
// users create sessions for them through the admin API instead.
type User struct {
	ID    string
	Email string // as the user typed it, for display
	// EmailKey is the canonical form of Email (Unicode NFC, lower case) and
	// is unique in the store.
	EmailKey     string
	PasswordHash string // PHC string; never the password
	TenantID     string

	NeedsOnboarding bool
	OnboardingStep  string
	Disabled        bool
	// Attributes is a JSON object that the server vouches for (roles,
	// plan): written by the operator, the admin API or a trusted backend,
	// never by a browser, and carried by the session answer. Nil is {}.
	Attributes json.RawMessage
	// Version counts updates of the record; UpdateUser is conditional on
	// it. A new user has version 0.
	Version int64

	CreatedAt time.Time
	UpdatedAt time.Time
}

// SessionUserReader is implemented by stores that can read a session and
// its user in one round trip. The Manager uses it, when the store implements
// it, for a validation that misses the node cache, so that answering with
// the session's user costs one store round trip instead of two.
type SessionUserReader interface {
	// SessionAndUserByTokenHash returns what SessionByTokenHash(h) returns
	// and, read in the same round trip, the user whose ID is the session's
	// UserID as UserByID would return it; the user is nil (and the error
	// nil) when no user has that ID. It returns ErrNotFound, and no user,
	// when there is no session.
	SessionAndUserByTokenHash(ctx context.Context, h TokenHash) (*Session, *User, error)
}

// UserStore persists users. The error rules of SessionStore apply: a missing
// user is ErrNotFound, a taken EmailKey or ID on create is ErrConflict.
//
// Every change to a user (update or delete) is announced on the store's
// change feed as Change{UserID}, in the same step as the write, so that every
// node drops its cached copy.
type UserStore interface {
	// CreateUser inserts u as given, Version included (0 for a new user).
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	UserByEmailKey(ctx context.Context, key string) (*User, error)
	// UpdateUser replaces every mutable field of the stored user with the
	// same ID (everything but ID, CreatedAt and Version) when the stored
	// Version equals u.Version, stores Version+1 and sets u.Version to it.
	// Check and write are one atomic step: of two updates made from the
	// same read, one wins and the other is ErrConflict, so a password hash
	// upgraded at login never overwrites a password changed meanwhile. It
	// returns ErrNotFound when there is no such user and ErrConflict when
	// the version is stale or the new EmailKey is taken; u is unchanged
	// then.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser deletes the user, frees its EmailKey and announces the
	// change. It returns ErrNotFound when there was none. The user's
	// sessions are the caller's to end.
	DeleteUser(ctx context.Context, id string) error
	// ListUsers returns, in ascending byte order of ID, at most f.Limit
	// users whose ID sorts after f.After and who match f, and the cursor
	// of the next page: the ID to pass as After, or "" when no user
	// follows. A page may hold fewer than f.Limit users while more follow
	// (a store bounds the records it reads for one page); only an empty
	// cursor ends the list. Users created or deleted meanwhile may or may
	// not appear; no user is listed twice.
	ListUsers(ctx context.Context, f UserFilter) (users []*User, next string, err error)
}

// UserFilter selects users for ListUsers. Zero fields match every user.
type UserFilter struct {
	// EmailPrefix matches users whose Email starts with it, ASCII letters
	// compared without case (other characters exactly).
	EmailPrefix string
	TenantID    string
	After       string // list IDs after this one; "" for the first page
	Limit       int    // at most this many users, at least 1
}

// MatchUser reports whether u matches the filter's email prefix and tenant.
// Stores that filter outside their query language use it, so that every
// store agrees.
func (f UserFilter) MatchUser(u *User) bool {
	if f.TenantID != "" && u.TenantID != f.TenantID {
		return false
	}
	return strings.HasPrefix(LowerASCII(u.Email), LowerASCII(f.EmailPrefix))
}

// LowerASCII lowers the ASCII letters of s and leaves every other byte as
// it is: the case folding that ListUsers applies, which SQL's lower() does
// in SQLite and translate() in PostgreSQL.
func LowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// CounterStore keeps expiring counters that every node sees: login
// throttling counts failures in it. Counters never need a scan.
type CounterStore interface {
	// IncrementCounter adds one to the counter at key, creating it when
	// absent or expired, records now as its last increment and makes it
	// expire ttl after now. It returns the new count.
	IncrementCounter(ctx context.Context, key string, now time.Time, ttl time.Duration) (int64, error)
	// Counter returns the count and the time of the last increment; a
	// missing or expired counter is 0 and the zero time, not an error.
	Counter(ctx context.Context, key string, now time.Time) (int64, time.Time, error)
	// ResetCounter deletes the counter. A missing one is not an error.
	ResetCounter(ctx context.Context, key string) error
	// ReserveCounter is IncrementCounter unless the counter is still
	// waiting out its back-off: with n its count and last its last
	// increment, that is when last + b.Delay(n) is after now; then it
	// changes nothing and returns false. Check and increment are one
	// atomic step, so that N parallel callers cannot all pass (SEC-29).
	ReserveCounter(ctx context.Context, key string, now time.Time, ttl time.Duration, b Backoff) (bool, error)
	// ReleaseCounter takes one back: the count less one, never below 0,
	// its last increment and expiry unchanged. A missing counter is not
	// an error.
	ReleaseCounter(ctx context.Context, key string) error
}

// Backoff is an exponential back-off over a counter of attempts: the
// first Free attempts wait for nothing; after n ≥ Free, the next waits
// Base·2^(n−Free), at most Max.
type Backoff struct {
	Free      int
	Base, Max time.Duration
}

// Delay is the wait after n attempts.
func (b Backoff) Delay(n int64) time.Duration {
	if n < int64(b.Free) || b.Base <= 0 {
		return 0
	}
	return min(b.Base<<min(n-int64(b.Free), b.Doublings()), b.Max)
}

// Doublings is how many doublings of Base reach Max: past them Delay is
// Max. Stores compute Delay in SQL or Lua as
// min(Base << min(n − Free, Doublings), Max), in microseconds, which never
// overflows.
func (b Backoff) Doublings() int64 {
	var k int64
	for b.Base > 0 && k < 62 && b.Base<<k < b.Max {
		k++
	}
	return k
}

// Event is one entry of the audit trail. It never carries a password, a
// token, a Cookie header or a request body.
type Event struct {
	ID        string    `json:"id"`
	Type      EventType `json:"type"`
	UserID    string    `json:"user_id"`
	SessionID string    `json:"session_id"` // the public id of the session concerned
	IPAddress string    `json:"ip_address"`
	UserAgent string    `json:"user_agent"`
	At        time.Time `json:"at"`
	// Detail holds short facts: who revoked, why, which flag.
	Detail map[string]string `json:"detail"`
}

// EventType names what an Event records, as stored, logged and sent to
// webhooks.
type EventType string

// Event types.
const (
	EventLogin           EventType = "login"
	EventLoginFailed     EventType = "login_failed"
	EventLogout          EventType = "logout"
	EventRevoked         EventType = "session_revoked"
	EventThrottled       EventType = "login_throttled"
	EventAnomaly         EventType = "anomaly"
	EventNewDevice       EventType = "new_device"
	EventPasswordChanged EventType = "password_changed"
	EventReauth          EventType = "reauthenticated"
	EventUserDisabled    EventType = "user_disabled"
	// EventMigrated: a legacy session became a session (sessionhttp.Migrator).
	EventMigrated EventType = "migrated"
)

// EventStore keeps each user's audit events.
type EventStore interface {
	// AppendEvent stores e. Its ID is unique.
	AppendEvent(ctx context.Context, e *Event) error
	// EventsByUser returns the user's events, newest first, at most limit.
	EventsByUser(ctx context.Context, userID string, limit int) ([]*Event, error)
	// DeleteEventsBefore deletes at most limit events older than before
	// and returns how many it deleted.
	DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error)
}

// DeviceStore remembers the devices each user has signed in from.
type DeviceStore interface {
	// SeenDevice records that the user used the device (an opaque
	// fingerprint) at t and reports whether it had never been seen.
	SeenDevice(ctx context.Context, userID, fingerprint string, at time.Time) (bool, error)
}

// Migration is the record of one legacy credential's migration.
type Migration struct {
	// Key is a hash of the legacy credential; the credential itself is
	// never stored.
	Key   TokenHash
	State string // MigrationPending, MigrationDone or MigrationInvalid
	// Sealed is the new session's token, encrypted under a key derived from
	// the legacy credential: only a holder of that credential can open it.
	Sealed     []byte
	CreatedAt  time.Time
	ShareUntil time.Time // parallel requests share the session until then
	ExpiresAt  time.Time // the record, and so replay protection, lasts until then
}

// Migration states.
const (
	MigrationPending = "pending"
	MigrationDone    = "done"
	MigrationInvalid = "invalid"
)

// MigrationStore keeps legacy migrations so that one legacy credential
// mints at most one session, across processes (SEC-25).
type MigrationStore interface {
	// ClaimMigration inserts a pending record for key expiring at
	// pendingUntil, unless an unexpired record exists. It returns the record
	// that is now stored and whether this call inserted it. An expired
	// record is replaced.
	ClaimMigration(ctx context.Context, key TokenHash, now, pendingUntil time.Time) (*Migration, bool, error)
	// MigrationByKey returns the record, or ErrNotFound (expired records
	// included: callers compare ExpiresAt).
	MigrationByKey(ctx context.Context, key TokenHash) (*Migration, error)
	// FinishMigration sets a pending record's state, sealed token and
	// deadlines. It returns ErrNotFound when no pending record exists.
	FinishMigration(ctx context.Context, m *Migration) error
	// DeleteMigration removes a record (a pending claim whose backend call
	// failed). A missing record is not an error.
	DeleteMigration(ctx context.Context, key TokenHash) error
}

// Store is what a complete backend provides.
type Store interface {
	SessionStore
	UserStore
	CounterStore
	EventStore
	DeviceStore
	MigrationStore
	Close() error
}
