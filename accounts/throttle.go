package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/sessiond/sessiond"
)

// Throttle configures login throttling (SEC-14). Failures are counted per
// account (the canonical email, whether or not such a user exists, SEC-15)
// and per client address, in the shared store so that every node sees them.
// After the free attempts, each further failure doubles the wait before the
// next attempt, from Base up to Max: never a permanent lock-out. A counter
// forgets Window after its last failure; a successful login clears the
// account's.
type Throttle struct {
	AccountAttempts int           // free failures per account; default 5
	AddressAttempts int           // free failures per address; default 20
	Base            time.Duration // first wait; default 1s
	Max             time.Duration // longest wait; default 15m
	Window          time.Duration // default 1h
}

func (t *Throttle) setDefaults() {
	if t.AccountAttempts <= 0 {
		t.AccountAttempts = 5
	}
	if t.AddressAttempts <= 0 {
		t.AddressAttempts = 20
	}
	if t.Base <= 0 {
		t.Base = time.Second
	}
	if t.Max <= 0 {
		t.Max = 15 * time.Minute
	}
	if t.Window <= 0 {
		t.Window = time.Hour
	}
}

// delay is the wait after n failures when free are allowed.
func (t Throttle) delay(n int64, free int) time.Duration {
	if n < int64(free) {
		return 0
	}
	shift := n - int64(free)
	if shift >= 62 || t.Base > t.Max>>shift {
		return t.Max
	}
	return t.Base << shift
}

type throttleKey struct {
	key  string
	free int
}

func (s *Service) throttleKeys(emailKey, ip string) []throttleKey {
	sum := sha256.Sum256([]byte(emailKey))
	keys := []throttleKey{{"login:account:" + hex.EncodeToString(sum[:16]), s.throttle.AccountAttempts}}
	if ip != "" {
		keys = append(keys, throttleKey{"login:address:" + ip, s.throttle.AddressAttempts})
	}
	return keys
}

// checkThrottle returns a too_many_requests error with RetryAfter when any
// key is still waiting out its back-off.
func (s *Service) checkThrottle(ctx context.Context, keys []throttleKey, ip string) error {
	now := s.now()
	var wait time.Duration
	for _, k := range keys {
		sctx, cancel := s.sessions.StoreContext(ctx)
		n, last, err := s.counters.Counter(sctx, k.key, now)
		cancel()
		if err != nil {
			return storeErr(err)
		}
		if until := last.Add(s.throttle.delay(n, k.free)); until.After(now) && until.Sub(now) > wait {
			wait = until.Sub(now)
		}
	}
	if wait <= 0 {
		return nil
	}
	wait = wait.Round(time.Second) + time.Second
	s.log.Info("audit", "event", sessiond.EventThrottled, "ip", ip, "retry_after_s", int(wait/time.Second))
	return &sessiond.Error{Code: sessiond.CodeTooManyRequests, Message: "too many failed attempts; try again later", RetryAfter: wait}
}

// countFailure adds a failure to every key. Failing to count is logged: the
// answer to the caller is already a failure.
func (s *Service) countFailure(ctx context.Context, keys []throttleKey) {
	now := s.now()
	for _, k := range keys {
		sctx, cancel := s.sessions.StoreContext(ctx)
		_, err := s.counters.IncrementCounter(sctx, k.key, now, s.throttle.Window)
		cancel()
		if err != nil {
			s.log.Warn("login failure not counted", "err", err)
		}
	}
}

func (s *Service) clearAccountFailures(ctx context.Context, keys []throttleKey) {
	sctx, cancel := s.sessions.StoreContext(ctx)
	defer cancel()
	if err := s.counters.ResetCounter(sctx, keys[0].key); err != nil {
		s.log.Warn("login failures not cleared", "err", err)
	}
}
