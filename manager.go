package sessiond

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Manager is the session engine: it creates, validates, touches, rotates,
// revokes, lists and purges sessions on a SessionStore, with an optional
// in-memory cache. It is safe for concurrent use. Close it to stop its
// background work and write pending touches.
type Manager struct {
	store     *bound       // bounded by StoreTimeout, observed
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

	// loads and anomalies share concurrent work on one session for at
	// most shareFor (flight.go).
	loads, anomalies singleflight.Group
	shareFor         time.Duration

	life   context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// NewManager returns a Manager on store and starts its background work:
// touch flushing, purging and, when the store is a ChangeWatcher, cache
// invalidation from other processes.
func NewManager(store SessionStore, cfg Config) *Manager {
	cfg.setDefaults()
	m := &Manager{
		store:    &bound{s: store, d: cfg.StoreTimeout, observe: cfg.StoreObserver},
		rawStore: store,
		cfg:      cfg,
		log:      cfg.Logger,
		pending:  make(map[string]pendingTouch),
		started:  time.Now(),
		shareFor: shareFor,
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
	m.life, m.cancel = ctx, cancel
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

// SessionParams describes a session to create.
type SessionParams struct {
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
func (m *Manager) Create(ctx context.Context, ns SessionParams) (string, *Session, error) {
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

// Client is what a request says about where it comes from.
type Client struct {
	IPAddress string
	UserAgent string
}

// Validate returns the live session for token, for a request from c. A
// token of the wrong shape, unknown, expired or revoked gives
// ErrUnauthenticated; a malformed one never reaches the store. A store
// failure gives ErrUnavailable, never ErrUnauthenticated. The returned
// session must not be modified.
//
// It runs the anomaly policy, comparing c with the session's address and
// agent at login; a zero Client skips the comparison. It records activity:
// at most once per TouchInterval per session, the new last activity is
// queued and written in a batch off the request path.
func (m *Manager) Validate(ctx context.Context, token string, c Client) (*Session, error) {
	if !ValidToken(token) {
		return nil, ErrUnauthenticated
	}
	h := HashToken(token)
	now := m.cfg.Now()
	s := m.cache.get(h, now)
	if s == nil {
		var err error
		s, err = m.validLoad(ctx, h)
		if errors.Is(err, ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		if err != nil {
			return nil, m.storeErr("load session", err)
		}
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

// Reauthenticate records a fresh password check of s's user: it replaces s
// with a new session under a new token whose AuthenticatedAt is now, keeping
// its public id, user, data and absolute deadline, and clears the flag that
// asked for the check (FlagReauthRequired). It starts from the store's
// record, not from s, and returns ErrUnauthenticated when s was revoked
// meanwhile (a rotation never resurrects a session) or its token replaced.
func (m *Manager) Reauthenticate(ctx context.Context, s *Session) (string, *Session, error) {
	// The store's record, not s: s may be this node's cached copy, older
	// than a data patch or a flag written since (the new session would
	// bring the old data and version back), or a token that a rotation
	// has already replaced (it must not rotate its successor).
	old, err := m.store.SessionByID(ctx, s.ID)
	if errors.Is(err, ErrNotFound) || err == nil && old.TokenHash != s.TokenHash {
		return "", nil, ErrUnauthenticated
	}
	if err != nil {
		return "", nil, m.storeErr("load session", err)
	}
	now := m.now()
	token, n, err := m.mint(now)
	if err != nil {
		return "", nil, err
	}
	n.ID = old.ID
	n.UserID, n.TenantID = old.UserID, old.TenantID
	n.IPAddress, n.UserAgent = old.IPAddress, old.UserAgent
	n.CreatedAt = old.CreatedAt
	n.ExpiresAt = old.ExpiresAt // SEC-09: rotation never extends it
	n.AuthenticatedAt = now
	n.Data, n.Version = old.Data, old.Version
	// A fresh password check answers the anomaly that asked for it.
	n.Flags = withoutFlag(old.Flags, FlagReauthRequired)
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
// every node refuses such a session by itself. Validate checks
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
// (RFC 7386: a null member deletes the key). Concurrent updates are retried
// so that none is lost. It returns the updated session.
func (m *Manager) UpdateData(ctx context.Context, id string, patch json.RawMessage) (*Session, error) {
	return m.updateData(ctx, id, nil, patch, nil)
}

// UpdateDataAt is UpdateData only if the session's Data is still at version
// (ErrConflict otherwise, with nothing changed): for a client that read the
// data and patches what it read.
func (m *Manager) UpdateDataAt(ctx context.Context, id string, patch json.RawMessage, version int64) (*Session, error) {
	return m.updateData(ctx, id, nil, patch, &version)
}

// PatchData is UpdateData, or UpdateDataAt when version is not nil, for the
// session a request presented: own as Validate returned it. Its token must
// still be the session's (ErrUnauthenticated otherwise): a node whose cache
// still holds a token that a rotation elsewhere replaced must not patch its
// successor's data.
func (m *Manager) PatchData(ctx context.Context, own *Session, patch json.RawMessage, version *int64) (*Session, error) {
	return m.updateData(ctx, own.ID, &own.TokenHash, patch, version)
}

// updateData is UpdateData, conditional on version when it is not nil,
// and on the session's token hash when token is not nil.
func (m *Manager) updateData(ctx context.Context, id string, token *TokenHash, patch json.RawMessage, version *int64) (*Session, error) {
	for attempt := 0; ; attempt++ {
		s, err := m.store.SessionByID(ctx, id)
		if errors.Is(err, ErrNotFound) || err == nil && token != nil && s.TokenHash != *token {
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

// load reads the session stored under h and, when the store can read both
// in one round trip (SessionUserReader), its user with it.
func (m *Manager) load(ctx context.Context, h TokenHash) (*Session, error) {
	if _, ok := m.rawStore.(SessionUserReader); !ok {
		return m.store.SessionByTokenHash(ctx, h)
	}
	s, u, err := m.store.SessionAndUserByTokenHash(ctx, h)
	if err != nil {
		return nil, err
	}
	s.user = withheld(u) // cached with the session: no hash (see User)
	return s, nil
}
