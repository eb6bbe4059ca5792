package sessiond

import (
	"crypto/rand"
	"io"
	"log/slog"
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
	// StoreObserver, when set, is told of every store call the Manager
	// and its neighbours make (Bound): for latency and error metrics.
	StoreObserver StoreObserver

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
