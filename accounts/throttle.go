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

type throttleKey struct {
	key  string
	free int
}

func (s *Service) throttleKeys(emailKey, ip string) []throttleKey {
	sum := sha256.Sum256([]byte(emailKey))
	keys := []throttleKey{{"login:account:" + hex.EncodeToString(sum[:16]), s.throttle.AccountAttempts}}
	if ip != "" {
		keys = append(keys, throttleKey{"login:address:" + sessiond.AddressKey(ip), s.throttle.AddressAttempts})
	}
	return keys
}

// reserve takes one attempt on every key before a password is checked,
// each check-and-count one atomic step in the shared store, so that N
// parallel guesses cost at most the allowed number of hash checks (SEC-29).
// When a key is still waiting out its back-off, the keys already taken are
// given back and the answer is too_many_requests with RetryAfter. An
// attempt stays counted when the password is wrong; release gives it back
// otherwise.
func (s *Service) reserve(ctx context.Context, keys []throttleKey, ip string) error {
	now := s.now()
	for i, k := range keys {
		ok, err := s.counters.ReserveCounter(ctx, k.key, now, s.throttle.Window, s.backoff(k))
		if err == nil && ok {
			continue
		}
		s.release(ctx, keys[:i])
		if err != nil {
			return storeErr(err)
		}
		wait := s.retryAfter(ctx, k, now)
		s.log.Info("audit", "event", sessiond.EventThrottled, "ip", ip, "retry_after_s", int(wait/time.Second))
		return &sessiond.Error{Code: sessiond.CodeTooManyRequests, Message: "too many failed attempts; try again later", RetryAfter: wait}
	}
	return nil
}

func (s *Service) backoff(k throttleKey) sessiond.Backoff {
	return sessiond.Backoff{Free: k.free, Base: s.throttle.Base, Max: s.throttle.Max}
}

// retryAfter is how long k still waits, in whole seconds, at least one.
func (s *Service) retryAfter(ctx context.Context, k throttleKey, now time.Time) time.Duration {
	n, last, err := s.counters.Counter(ctx, k.key, now)
	wait := time.Second
	if err == nil {
		wait = max(last.Add(s.backoff(k).Delay(n)).Sub(now), 0).Round(time.Second) + time.Second
	}
	return wait
}

// release gives back one attempt on every key: the attempt was not a
// failure (the login succeeded, or the password was never checked). It
// survives the client going away: the outcome is already decided.
func (s *Service) release(ctx context.Context, keys []throttleKey) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range keys {
		err := s.counters.ReleaseCounter(ctx, k.key)
		if err != nil {
			s.log.Warn("login attempt not given back", "err", err)
		}
	}
}

// succeeded clears the account's failures and gives back the address's
// attempt, also when the client has gone away.
func (s *Service) succeeded(ctx context.Context, keys []throttleKey) {
	ctx = context.WithoutCancel(ctx)
	if err := s.counters.ResetCounter(ctx, keys[0].key); err != nil {
		s.log.Warn("login failures not cleared", "err", err)
	}
	s.release(ctx, keys[1:])
}
