package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
)

// IncrementCounter implements sessiond.CounterStore in one script. An
// expired counter (by Redis or by the caller's clock) starts over at 1.
func (s *Store) IncrementCounter(ctx context.Context, key string, now time.Time, ttl time.Duration) (int64, error) {
	n, err := counterScript.Exec(ctx, s.c, []string{s.k("c", key)}, counterArgs(now, ttl, sessiond.Backoff{})).ToInt64()
	return n, translate(err)
}

// ReserveCounter implements sessiond.CounterStore in one script.
func (s *Store) ReserveCounter(ctx context.Context, key string, now time.Time, ttl time.Duration, b sessiond.Backoff) (bool, error) {
	n, err := counterScript.Exec(ctx, s.c, []string{s.k("c", key)}, counterArgs(now, ttl, b)).ToInt64()
	return n > 0, translate(err)
}

// ReleaseCounter implements sessiond.CounterStore.
func (s *Store) ReleaseCounter(ctx context.Context, key string) error {
	return translate(releaseScript.Exec(ctx, s.c, []string{s.k("c", key)}, nil).Error())
}

func counterArgs(now time.Time, ttl time.Duration, b sessiond.Backoff) []string {
	return []string{micros(now), micros(now.Add(ttl)), strconv.FormatInt(now.Add(ttl).UnixMilli(), 10),
		strconv.Itoa(b.Free), strconv.FormatInt(b.Base.Microseconds(), 10), strconv.FormatInt(b.Doublings(), 10),
		strconv.FormatInt(b.Max.Microseconds(), 10)}
}

// Counter implements sessiond.CounterStore.
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, time.Time, error) {
	m, err := s.c.Do(ctx, s.c.B().Hgetall().Key(s.k("c", key)).Build()).AsStrMap()
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	if len(m) == 0 || (m["exp"] != "" && !fromMicros(m["exp"]).After(now)) {
		return 0, time.Time{}, nil
	}
	n, _ := strconv.ParseInt(m["n"], 10, 64)
	return n, fromMicros(m["last"]), nil
}

// ResetCounter implements sessiond.CounterStore.
func (s *Store) ResetCounter(ctx context.Context, key string) error {
	return translate(s.c.Do(ctx, s.c.B().Del().Key(s.k("c", key)).Build()).Error())
}
