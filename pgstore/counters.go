package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
)

// IncrementCounter implements sessiond.CounterStore.
func (s *Store) IncrementCounter(ctx context.Context, key string, now time.Time, ttl time.Duration) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `INSERT INTO counters (key, count, last_at, expires_at) VALUES ($1, 1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.expires_at <= excluded.last_at THEN 1 ELSE counters.count + 1 END,
			last_at = excluded.last_at, expires_at = excluded.expires_at
		RETURNING count`, key, now, now.Add(ttl)).Scan(&n)
	return n, translate(err)
}

// ReserveCounter implements sessiond.CounterStore in one statement: the
// upsert's WHERE refuses an update while the back-off runs.
func (s *Store) ReserveCounter(ctx context.Context, key string, now time.Time, ttl time.Duration, b sessiond.Backoff) (bool, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `INSERT INTO counters (key, count, last_at, expires_at) VALUES ($1, 1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN counters.expires_at <= excluded.last_at THEN 1 ELSE counters.count + 1 END,
			last_at = excluded.last_at, expires_at = excluded.expires_at
		WHERE counters.expires_at <= excluded.last_at OR counters.count < $4
			OR counters.last_at + make_interval(secs => LEAST($5::bigint << LEAST(counters.count - $4, $6::bigint)::int, $7::bigint) / 1e6) <= excluded.last_at
		RETURNING count`, key, now, now.Add(ttl), b.Free, b.Base.Microseconds(), b.Doublings(), b.Max.Microseconds()).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, translate(err)
}

// ReleaseCounter implements sessiond.CounterStore.
func (s *Store) ReleaseCounter(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `UPDATE counters SET count = count - 1 WHERE key = $1 AND count > 0`, key)
	return translate(err)
}

// Counter implements sessiond.CounterStore.
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, time.Time, error) {
	var (
		n    int64
		last time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count, last_at FROM counters WHERE key = $1 AND expires_at > $2`, key, now).Scan(&n, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	return n, last.UTC(), nil
}

// ResetCounter implements sessiond.CounterStore.
func (s *Store) ResetCounter(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM counters WHERE key = $1`, key)
	return translate(err)
}
