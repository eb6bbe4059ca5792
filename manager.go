package sessiond

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config holds the Manager's policy. The zero value of each field means its
// default; the sessiond server sets them from flags and environment variables
// (named on each field).
type Config struct {
	// Lifetime is the absolute lifetime of a session, counted from login and
	// never extended by activity. Default 24h (SESSIOND_LIFETIME).
	Lifetime time.Duration
	// IdleTimeout ends a session that saw no request for this long.
	// Default 2h (SESSIOND_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// TouchInterval is how stale a session's recorded last activity may
	// get before a request records it again. Writes happen off the
	// request path, batched every FlushInterval. Default 1m
	// (SESSIOND_TOUCH_INTERVAL).
	TouchInterval time.Duration
	// FlushInterval is how often pending touches are written. Default 1s.
	FlushInterval time.Duration

	// CacheSize bounds the number of sessions kept in memory. Default
	// 100000; negative turns the cache off (SESSIOND_CACHE_SIZE, where 0
	// means off).
	CacheSize int
	// CacheTTL bounds how long a cached session is trusted without asking
	// the store. Default 10s (SESSIOND_CACHE_TTL). Revocations reach the
	// cache sooner: at once for this process's own, and through the
	// store's ChangeWatcher for other processes'.
	CacheTTL time.Duration

	// FeedLease bounds how long a cached answer may miss a change made by
	// another process when the store's change feed dies without this node
	// noticing (a restarted Redis, a cut connection): on a store that is a
	// FeedProber, the Manager sends a probe through the feed every
	// FeedLease/4 and answers from its cache only while a probe sent less
	// than FeedLease ago has come back. It is the propagation bound of
	// revocations to other nodes. Default DefaultFeedLease.
	FeedLease time.Duration

	// StoreTimeout bounds every store call; a store that does not answer
	// in time is ErrUnavailable. Default 5s.
	StoreTimeout time.Duration

	// MaxDataSize bounds the encoded size of a session's Data. Default
	// 8 KiB.
	MaxDataSize int

	// MaxSessionsPerUser caps each user's live sessions; 0 (the default)
	// means no cap and 1 is single-session mode
	// (SESSIOND_MAX_SESSIONS_PER_USER). At the cap the least recently
	// active session is ended to make room (the default,
	// SESSIOND_AT_LIMIT=evict), or, with RefuseAtLimit, a new login is
	// refused with ErrLimitReached (SESSIOND_AT_LIMIT=refuse).
	MaxSessionsPerUser int
	RefuseAtLimit      bool

	// ReauthWindow is how recent the last password check must be for
	// sensitive actions (revoke others, password change). Default 10m
	// (SESSIOND_REAUTH_WINDOW).
	ReauthWindow time.Duration

	// Anomaly is what happens when a session is presented with another
	// browser family or from another network than at login: AnomalyFlag
	// (the default: record a flag and an event), AnomalyReauth (also
	// require re-authentication before the next state-changing request)
	// or AnomalyRevoke (end the session). SESSIOND_ANOMALY_ACTION.
	Anomaly AnomalyAction
	// IPv4Prefix and IPv6Prefix are the prefix lengths under which two
	// addresses count as one network. Defaults 24 and 48.
	IPv4Prefix, IPv6Prefix int

	// EventRetention is how long audit events are kept. Default 2160h
	// (90 days, SESSIOND_EVENT_RETENTION).
	EventRetention time.Duration
	// OnEvent, when set, receives every audit event after it is logged and
	// stored. It must not block (the webhook sender queues).
	OnEvent func(Event)

	// PurgeInterval is how often expired sessions are deleted in the
	// background; PurgeBatch is how many one statement deletes. Defaults
	// 1m and 500. A negative PurgeInterval turns the background purge off.
	PurgeInterval time.Duration
	PurgeBatch    int

	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Rand is the source of tokens and ids. Default crypto/rand.Reader.
	Rand io.Reader
	// Logger receives structured events. Default slog.Default().
	Logger *slog.Logger
}

// DefaultFeedLease is the default Config.FeedLease: a revocation made on one
// node is honoured by every other node's cache within this bound, even when
// the change feed dies without a node noticing.
const DefaultFeedLease = time.Second

func (c *Config) setDefaults() {
	setDefault(&c.Lifetime, 24*time.Hour)
	setDefault(&c.IdleTimeout, 2*time.Hour)
	setDefault(&c.TouchInterval, time.Minute)
	setDefault(&c.FlushInterval, time.Second)
	setDefault(&c.CacheSize, 100_000)
	setDefault(&c.CacheTTL, 10*time.Second)
	setDefault(&c.StoreTimeout, 5*time.Second)
	setDefault(&c.FeedLease, DefaultFeedLease)
	setDefault(&c.MaxDataSize, 8<<10)
	setDefault(&c.PurgeInterval, time.Minute)
	setDefault(&c.PurgeBatch, 500)
	setDefault(&c.ReauthWindow, 10*time.Minute)
	setDefault(&c.Anomaly, AnomalyFlag)
	setDefault(&c.IPv4Prefix, 24)
	setDefault(&c.IPv6Prefix, 48)
	setDefault(&c.EventRetention, 90*24*time.Hour)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Manager is the session engine: it creates, validates, touches, rotates,
// revokes, lists and purges sessions on a SessionStore, with an optional
// in-memory cache. It is safe for concurrent use. Close it to stop its
// background work and write pending touches.
type Manager struct {
	store     SessionStore // bounded by StoreTimeout
	rawStore  SessionStore // the store as given, for optional capabilities
	cfg       Config
	log       *slog.Logger
	cache     *cache
	probes    *prober // nil unless the store is a FeedProber
	followers followers
	// conceal is the store's ChangeConcealer, or nil: changes are keyed
	// as the feed carries them.
	conceal func(Change) Change
	// proven is when the feed was last proven live (a probe's send time,
	// or the moment it connected), in nanoseconds on the monotonic clock
	// since started: a wall-clock step must not make a dead feed look
	// live, nor end every stream.
	proven  atomic.Int64
	started time.Time

	touchMu sync.Mutex
	pending map[string]pendingTouch

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

type pendingTouch struct {
	hash TokenHash
	at   time.Time
}

// NewManager returns a Manager on store and starts its background work:
// touch flushing, purging and, when the store is a ChangeWatcher, cache
// invalidation from other processes.
func NewManager(store SessionStore, cfg Config) *Manager {
	cfg.setDefaults()
	m := &Manager{
		store:    timeoutStore{s: store, d: cfg.StoreTimeout},
		rawStore: store,
		cfg:      cfg,
		log:      cfg.Logger,
		pending:  make(map[string]pendingTouch),
		started:  time.Now(),
	}
	_, watcher := store.(ChangeWatcher)
	// A store shared with other processes starts with the cache off until
	// its change feed is live.
	m.cache = newCache(cfg.CacheSize, cfg.CacheTTL, 2*cfg.StoreTimeout+time.Second, !watcher)
	if cc, ok := store.(ChangeConcealer); ok {
		m.conceal = cc.ConcealChange
		if m.cache != nil {
			m.cache.conceal = cc.ConcealChange
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.goLoop(ctx, cfg.FlushInterval, func(ctx context.Context) { m.flushTouches(ctx) })
	if cfg.PurgeInterval > 0 {
		m.goLoop(ctx, cfg.PurgeInterval, func(ctx context.Context) {
			if _, err := m.Purge(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("purge failed", "err", err)
			}
		})
	}
	// The feed is watched also without a cache: followers (live
	// revocation streams) need it.
	if w, ok := store.(ChangeWatcher); ok {
		if p, ok := store.(FeedProber); ok {
			m.probes = newProber(p, cfg.FeedLease, cfg.Rand)
			if m.cache != nil {
				m.cache.lease, m.cache.sinceProven = cfg.FeedLease, m.sinceProven
			}
			m.goLoop(ctx, cfg.FeedLease/4, func(ctx context.Context) {
				// A feed that stopped proving itself may have died
				// unnoticed: followers can no longer trust it.
				if m.sinceProven() >= cfg.FeedLease {
					m.followers.lost()
				}
				m.probes.send(ctx, m.log)
			})
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.watch(ctx, w)
		}()
	}
	return m
}

// now returns the current time as stored: UTC, to the microsecond, which is
// the precision every store keeps.
func (m *Manager) now() time.Time { return m.cfg.Now().UTC().Truncate(time.Microsecond) }

// Config returns the effective configuration, defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// Close stops background work and writes pending touches. It is safe to call
// more than once.
func (m *Manager) Close() error {
	var err error
	m.closed.Do(func() {
		m.cancel()
		m.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = m.flushTouches(ctx)
	})
	return err
}

// NewSession describes a session to create.
type NewSession struct {
	UserID    string
	TenantID  string
	IPAddress string
	UserAgent string
	Data      json.RawMessage
	// NotAfter, when set, caps the absolute deadline (a migrated legacy
	// credential's own expiry, for instance).
	NotAfter time.Time
}

// Create mints a token and stores a new session. The token is returned once
// and never stored; the caller puts it in the cookie.
func (m *Manager) Create(ctx context.Context, ns NewSession) (string, *Session, error) {
	if err := checkNewSession(ns); err != nil {
		return "", nil, err
	}
	if err := m.checkData(ns.Data); err != nil {
		return "", nil, err
	}
	now := m.now()
	token, s, err := m.mint(now)
	if err != nil {
		return "", nil, err
	}
	s.UserID, s.TenantID = ns.UserID, ns.TenantID
	s.IPAddress, s.UserAgent = ns.IPAddress, ns.UserAgent
	s.AuthenticatedAt = now
	if !ns.NotAfter.IsZero() && ns.NotAfter.Before(s.ExpiresAt) {
		s.ExpiresAt = ns.NotAfter.UTC()
	}
	s.Data = ns.Data
	if m.cfg.MaxSessionsPerUser > 0 {
		evicted, err := m.store.CreateSessionLimited(ctx, s, Limit{
			Max: m.cfg.MaxSessionsPerUser, Evict: !m.cfg.RefuseAtLimit,
			Now: now, IdleBefore: now.Add(-m.cfg.IdleTimeout),
		})
		if err != nil {
			return "", nil, m.storeErr("create session", err)
		}
		for _, old := range evicted {
			m.changed(Change{SessionID: old.ID})
			m.dropTouch(old.ID)
			m.Record(ctx, Event{Type: EventRevoked, UserID: old.UserID, SessionID: old.ID,
				IPAddress: ns.IPAddress, UserAgent: ns.UserAgent,
				Detail: map[string]string{"reason": "session_limit", "by_session": s.ID}})
		}
	} else if err := m.store.CreateSession(ctx, s); err != nil {
		return "", nil, m.storeErr("create session", err)
	}
	m.log.Info("session created", "user_id", s.UserID, "session_id", s.ID, "ip", s.IPAddress)
	return token, s, nil
}

// mint draws a token and an id and fills the timestamps of a new session.
func (m *Manager) mint(now time.Time) (string, *Session, error) {
	token, err := newToken(m.cfg.Rand)
	if err != nil {
		return "", nil, &Error{Code: CodeInternal, Message: "internal error", Err: err}
	}
	id, err := NewID(m.cfg.Rand)
	if err != nil {
		return "", nil, &Error{Code: CodeInternal, Message: "internal error", Err: err}
	}
	return token, &Session{
		ID:           id,
		TokenHash:    HashToken(token),
		CreatedAt:    now,
		LastActivity: now,
		ExpiresAt:    now.Add(m.cfg.Lifetime),
	}, nil
}

// Validate returns the live session for token. A token of the wrong shape,
// unknown, expired or revoked gives ErrUnauthenticated; a malformed one never
// reaches the store. A store failure gives ErrUnavailable, never
// ErrUnauthenticated. The returned session must not be modified.
//
// Validate records activity: at most once per TouchInterval per session, the
// new last activity is queued and written in a batch off the request path.
func (m *Manager) Validate(ctx context.Context, token string) (*Session, error) {
	return m.ValidateClient(ctx, token, Client{})
}

// Client is what a request says about where it comes from.
type Client struct {
	IPAddress string
	UserAgent string
}

// ValidateClient is Validate for a request from c: it also runs the anomaly
// policy, comparing c with the session's address and agent at login. A zero
// Client skips the comparison.
func (m *Manager) ValidateClient(ctx context.Context, token string, c Client) (*Session, error) {
	if !ValidToken(token) {
		return nil, ErrUnauthenticated
	}
	h := HashToken(token)
	now := m.cfg.Now()
	s := m.cache.get(h, now)
	if s == nil {
		epoch := m.cache.snapshot()
		var err error
		s, err = m.store.SessionByTokenHash(ctx, h)
		if errors.Is(err, ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		if err != nil {
			return nil, m.storeErr("load session", err)
		}
		m.cache.put(s, epoch, now)
	}
	if !now.Before(s.ExpiresAt) {
		return nil, ErrUnauthenticated
	}
	if now.Sub(s.LastActivity) >= m.cfg.TouchInterval {
		last := m.pendingActivity(s)
		if !now.Before(last.Add(m.cfg.IdleTimeout)) {
			return nil, ErrUnauthenticated
		}
		s = m.touch(s, now)
	}
	if c != (Client{}) {
		return m.checkAnomaly(ctx, s, c)
	}
	return s, nil
}

// pendingActivity returns the latest known activity of s, counting touches
// not yet written.
func (m *Manager) pendingActivity(s *Session) time.Time {
	m.touchMu.Lock()
	p, ok := m.pending[s.ID]
	m.touchMu.Unlock()
	if ok && p.hash == s.TokenHash && p.at.After(s.LastActivity) {
		return p.at
	}
	return s.LastActivity
}

// touch queues now as s's last activity and returns the updated copy, also
// placed in the cache so that the next requests skip this path.
func (m *Manager) touch(s *Session, now time.Time) *Session {
	m.touchMu.Lock()
	at := now.UTC().Truncate(time.Microsecond)
	m.pending[s.ID] = pendingTouch{hash: s.TokenHash, at: at}
	m.touchMu.Unlock()
	c := s.clone()
	c.LastActivity = at
	m.cache.replace(c)
	return c
}

// flushTouches writes the queued touches in batches.
func (m *Manager) flushTouches(ctx context.Context) error {
	m.touchMu.Lock()
	if len(m.pending) == 0 {
		m.touchMu.Unlock()
		return nil
	}
	batch := make([]Touch, 0, len(m.pending))
	for id, p := range m.pending {
		batch = append(batch, Touch{ID: id, At: p.at})
	}
	clear(m.pending)
	m.touchMu.Unlock()

	const chunk = 500
	for i := 0; i < len(batch); i += chunk {
		part := batch[i:min(i+chunk, len(batch))]
		if err := m.store.TouchSessions(ctx, part); err != nil {
			// Losing a touch only makes idle expiry a little early; it
			// is logged, not retried, so a store outage cannot grow
			// this queue without bound.
			m.log.Warn("touch flush failed", "sessions", len(batch)-i, "err", err)
			return m.storeErr("touch sessions", err)
		}
	}
	return nil
}

// Lookup returns the session with the public id, live or not, straight from
// the store. It is for administration; requests authenticate with Validate.
func (m *Manager) Lookup(ctx context.Context, id string) (*Session, error) {
	if !ValidID(id) {
		return nil, Errorf(CodeInvalidInput, "session id must be a UUID")
	}
	s, err := m.store.SessionByID(ctx, id)
	if err != nil {
		return nil, m.storeErr("load session", err)
	}
	// Activity this node has seen but not yet written counts, as in List:
	// a session validated a moment ago is not idle.
	if at := m.pendingActivity(s); at.After(s.LastActivity) {
		s.LastActivity = at
	}
	return s, nil
}

// Live reports whether s is within both of its deadlines at now.
func (m *Manager) Live(s *Session, now time.Time) bool {
	return now.Before(s.ExpiresAt) && now.Before(s.LastActivity.Add(m.cfg.IdleTimeout))
}

// Deadline returns when s ends if it sees no more activity: the earlier of
// its absolute and idle deadlines.
func (m *Manager) Deadline(s *Session) time.Time {
	idle := s.LastActivity.Add(m.cfg.IdleTimeout)
	if idle.Before(s.ExpiresAt) {
		return idle
	}
	return s.ExpiresAt
}

// Rotate replaces s with a new session under a new token, keeping its public
// id, user, data and absolute deadline. When reauthenticated is true the new
// session's AuthenticatedAt is now. It returns ErrUnauthenticated when s was
// revoked meanwhile: a rotation never resurrects a session.
func (m *Manager) Rotate(ctx context.Context, s *Session, reauthenticated bool) (string, *Session, error) {
	now := m.now()
	token, n, err := m.mint(now)
	if err != nil {
		return "", nil, err
	}
	old := s.clone()
	n.ID = old.ID
	n.UserID, n.TenantID = old.UserID, old.TenantID
	n.IPAddress, n.UserAgent = old.IPAddress, old.UserAgent
	n.CreatedAt = old.CreatedAt
	n.ExpiresAt = old.ExpiresAt // SEC-09: rotation never extends it
	n.AuthenticatedAt = old.AuthenticatedAt
	if reauthenticated {
		n.AuthenticatedAt = now
	}
	n.Data, n.Version, n.Flags = old.Data, old.Version, old.Flags
	if reauthenticated {
		// A fresh password check answers the anomaly that asked for it.
		n.Flags = withoutFlag(n.Flags, FlagReauthRequired)
	}
	err = m.store.RotateSession(ctx, old.ID, n)
	m.changed(Change{SessionID: old.ID})
	if errors.Is(err, ErrNotFound) {
		return "", nil, ErrUnauthenticated
	}
	if err != nil {
		return "", nil, m.storeErr("rotate session", err)
	}
	m.log.Info("session rotated", "user_id", n.UserID, "session_id", n.ID)
	return token, n, nil
}

// RequireRecentAuth returns ErrReauthRequired unless s's last password check
// is within ReauthWindow and no anomaly asked for a new one (SEC-12).
func (m *Manager) RequireRecentAuth(s *Session) error {
	if s.HasFlag(FlagReauthRequired) || m.cfg.Now().Sub(s.AuthenticatedAt) > m.cfg.ReauthWindow {
		return ErrReauthRequired
	}
	return nil
}

// Revoke deletes the session with the public id. Revoking a session that is
// already gone is not an error.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	err := m.store.DeleteSession(ctx, id)
	m.changed(Change{SessionID: id})
	m.dropTouch(id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return m.storeErr("delete session", err)
	}
	return nil
}

// RevokeTenant deletes every session of the tenant and returns how many.
func (m *Manager) RevokeTenant(ctx context.Context, tenantID string) (int, error) {
	if err := CheckIdentity("tenant id", tenantID, MaxIDLength); err != nil || tenantID == "" {
		return 0, Errorf(CodeInvalidInput, "not a tenant id")
	}
	n, err := m.store.DeleteTenantSessions(ctx, tenantID)
	m.changed(Change{TenantID: tenantID})
	if err != nil {
		return n, m.storeErr("delete tenant sessions", err)
	}
	return n, nil
}

// RevokeUser deletes every session of the user except the one with the
// public id except (empty for none) and returns how many it deleted.
func (m *Manager) RevokeUser(ctx context.Context, userID, except string) (int, error) {
	if err := CheckIdentity("user id", userID, MaxIDLength); err != nil || userID == "" {
		return 0, Errorf(CodeInvalidInput, "not a user id")
	}
	n, err := m.store.DeleteUserSessions(ctx, userID, except)
	m.changed(Change{UserID: userID})
	if err != nil {
		return n, m.storeErr("delete user sessions", err)
	}
	return n, nil
}

func (m *Manager) dropTouch(id string) {
	m.touchMu.Lock()
	delete(m.pending, id)
	m.touchMu.Unlock()
}

// Logout revokes the session of token, if it has one. A token that is
// malformed, unknown or expired is not an error: there is nothing to end.
func (m *Manager) Logout(ctx context.Context, token string, c Client) (*Session, error) {
	if !ValidToken(token) {
		return nil, nil
	}
	s, err := m.store.SessionByTokenHash(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, m.storeErr("load session", err)
	}
	if err := m.Revoke(ctx, s.ID); err != nil {
		return nil, err
	}
	m.Record(ctx, Event{Type: EventLogout, UserID: s.UserID, SessionID: s.ID, IPAddress: c.IPAddress, UserAgent: c.UserAgent})
	return s, nil
}

// List returns the user's live sessions, most recently active first.
func (m *Manager) List(ctx context.Context, userID string) ([]*Session, error) {
	if err := CheckIdentity("user id", userID, MaxIDLength); err != nil || userID == "" {
		return nil, Errorf(CodeInvalidInput, "not a user id")
	}
	all, err := m.store.SessionsByUser(ctx, userID)
	if err != nil {
		return nil, m.storeErr("list sessions", err)
	}
	now := m.cfg.Now()
	live := all[:0]
	for _, s := range all {
		if at := m.pendingActivity(s); at.After(s.LastActivity) {
			s.LastActivity = at
		}
		if m.Live(s, now) {
			live = append(live, s)
		}
	}
	sortByActivity(live)
	return live, nil
}

// Purge deletes expired sessions in batches of PurgeBatch until none is
// left or ctx ends, and returns how many it deleted. Each batch is its own
// short statement, so validation never waits long behind it.
//
// The purge announces nothing on the change feed, and needs not: what it
// deletes is past its absolute deadline or idle past IdleTimeout, and
// every node refuses such a session by itself. ValidateClient checks
// ExpiresAt on every call, cached copy or not, and idle expiry against the
// latest activity it knows (its own unflushed touch included) once
// TouchInterval has passed since the recorded one. A node whose own touch
// is later than the store's record saw the session active within
// IdleTimeout; it may serve it for at most CacheTTL more, as for any
// session it caches (SEC-35).
func (m *Manager) Purge(ctx context.Context) (int, error) {
	total := 0
	for {
		now := m.cfg.Now().UTC()
		n, err := m.store.DeleteExpiredSessions(ctx, now, now.Add(-m.cfg.IdleTimeout), m.cfg.PurgeBatch)
		total += n
		if err != nil {
			return total, m.storeErr("purge", err)
		}
		if n < m.cfg.PurgeBatch {
			if total > 0 {
				m.log.Info("expired sessions purged", "count", total)
			}
			return total, m.purgeEvents(ctx)
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// UpdateData applies patch to the session's Data as a JSON merge patch
// (RFC 7386: a null member deletes the key). When version is not nil the
// update happens only if the session's Data is still at that version
// (ErrConflict otherwise); without it, concurrent updates are retried so that
// none is lost. It returns the updated session.
func (m *Manager) UpdateData(ctx context.Context, id string, patch json.RawMessage, version *int64) (*Session, error) {
	for attempt := 0; ; attempt++ {
		s, err := m.store.SessionByID(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		if err != nil {
			return nil, m.storeErr("load session", err)
		}
		if version != nil && *version != s.Version {
			return nil, Errorf(CodeConflict, "session data is at version %d", s.Version)
		}
		data, err := MergePatch(s.Data, patch)
		if err != nil {
			return nil, err
		}
		if err := m.checkData(data); err != nil {
			return nil, err
		}
		err = m.store.UpdateSessionData(ctx, id, data, s.Version)
		m.changed(Change{SessionID: id})
		switch {
		case err == nil:
			s.Data, s.Version = data, s.Version+1
			return s, nil
		case errors.Is(err, ErrNotFound):
			return nil, ErrUnauthenticated
		case errors.Is(err, ErrConflict) && version == nil && attempt < 8:
			continue
		case errors.Is(err, ErrConflict):
			return nil, Errorf(CodeConflict, "session data changed concurrently")
		default:
			return nil, m.storeErr("update session data", err)
		}
	}
}

func (m *Manager) checkData(data json.RawMessage) error {
	if len(data) > m.cfg.MaxDataSize {
		return Errorf(CodeInvalidInput, "session data exceeds %d bytes", m.cfg.MaxDataSize)
	}
	return nil
}

// Ping reports whether the store answers.
func (m *Manager) Ping(ctx context.Context) error {
	if err := m.store.Ping(ctx); err != nil {
		return m.storeErr("ping", err)
	}
	return nil
}

// User returns the user with the id from this node's cache, or calls load
// and caches what it returns. The cache follows the same rules as for
// sessions: bounded, CacheTTL at most, dropped on InvalidateUser and on any
// change reported by the store's change feed. Errors from load are returned
// as they are.
func (m *Manager) User(ctx context.Context, id string, load func(context.Context, string) (*User, error)) (*User, error) {
	now := m.cfg.Now()
	if u := m.cache.getUser(id, now); u != nil {
		return u, nil
	}
	epoch := m.cache.snapshot()
	ctx, cancel := m.StoreContext(ctx)
	defer cancel()
	u, err := load(ctx, id)
	if err != nil {
		return nil, err
	}
	m.cache.putUser(u, epoch, now)
	return u, nil
}

// StoreContext returns ctx bounded by StoreTimeout, for callers that use a
// store directly (the built-in user directory).
func (m *Manager) StoreContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.cfg.StoreTimeout)
}

// CacheLen reports how many sessions this node holds in memory.
func (m *Manager) CacheLen() int { return m.cache.len() }

// InvalidateUser drops the user and the user's sessions from this node's
// cache; callers that change a user outside the Manager use it.
func (m *Manager) InvalidateUser(userID string) { m.changed(Change{UserID: userID}) }

// storeErr maps a store error: our own *Error passes through (not found,
// conflict), a context error is reported as unavailable, and anything else is
// a system error, unavailable.
func (m *Manager) storeErr(op string, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Code != CodeInternal {
		return err
	}
	return unavailable(op, err)
}

// watch keeps the cache coherent with other processes' changes. The cache is
// on only while the change feed is live; each time the feed is lost, the
// cache is flushed and turned off until it is back (SEC-21).
func (m *Manager) watch(ctx context.Context, w ChangeWatcher) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.WatchChanges(ctx,
			func() {
				// The feed was just (re)connected: every change from
				// now on arrives, and the cache starts empty.
				m.proven.Store(int64(time.Since(m.started)))
				m.cache.setEnabled(true)
				backoff = 100 * time.Millisecond
			},
			func(c Change) {
				if c.Probe != "" {
					if sent, ok := m.probes.returned(c.Probe); ok {
						if n := int64(sent.Sub(m.started)); n > m.proven.Load() {
							m.proven.Store(n)
						}
					}
					return
				}
				// Already in the feed's form (concealed, with a
				// ChangeConcealer store).
				m.drop(c)
			})
		m.cache.setEnabled(false)
		m.followers.lost()
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("change feed lost; session cache off until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// changed drops what the cache holds of c and tells the followers. It is
// called for this node's own changes, at once, and the feed brings each
// again (the second time costs little).
func (m *Manager) changed(c Change) { m.drop(m.feedForm(c)) }

// feedForm returns c as the store's feed carries it.
func (m *Manager) feedForm(c Change) Change {
	if m.conceal != nil && c.Probe == "" {
		return m.conceal(c)
	}
	return c
}

// drop is changed for a change in the feed's form. It costs O(1)
// amortised whatever the change (SEC-35): a burst of them, or junk that
// anyone who can reach the channel sent, delays nothing for long.
func (m *Manager) drop(c Change) {
	switch {
	case c.SessionID != "":
		m.cache.invalidateSession(c.String())
	case c.UserID != "":
		m.cache.invalidateUser(c.String())
	case c.TenantID != "":
		m.cache.invalidateTenant(c.String())
	}
	m.followers.changed(c)
}

// sinceProven is how long ago the feed was last proven live.
func (m *Manager) sinceProven() time.Duration {
	return time.Since(m.started) - time.Duration(m.proven.Load())
}

// goLoop runs fn every interval until ctx ends.
func (m *Manager) goLoop(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
}
