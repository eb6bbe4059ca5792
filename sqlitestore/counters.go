package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sessiond/sessiond"
)

// IncrementCounter implements sessiond.CounterStore.
func (s *Store) IncrementCounter(ctx context.Context, key string, now time.Time, ttl time.Duration) (int64, error) {
	var n int64
	err := s.write(ctx, func(t wtx) error {
		return t.queryRow(`INSERT INTO counters (key, count, last_at, expires_at) VALUES (?, 1, ?, ?)
			ON CONFLICT (key) DO UPDATE SET
				count = CASE WHEN counters.expires_at <= excluded.last_at THEN 1 ELSE counters.count + 1 END,
				last_at = excluded.last_at, expires_at = excluded.expires_at
			RETURNING count`, key, micros(now), micros(now.Add(ttl))).Scan(&n)
	})
	if err != nil {
		return 0, err // a caller that gave up reads nothing the writer may still set
	}
	return n, nil
}

// ReserveCounter implements sessiond.CounterStore in one statement: the
// upsert's WHERE refuses an update while the back-off runs.
func (s *Store) ReserveCounter(ctx context.Context, key string, now time.Time, ttl time.Duration, b sessiond.Backoff) (bool, error) {
	var reserved bool
	err := s.write(ctx, func(t wtx) error {
		var n int64
		err := t.queryRow(`INSERT INTO counters (key, count, last_at, expires_at) VALUES (?1, 1, ?2, ?3)
			ON CONFLICT (key) DO UPDATE SET
				count = CASE WHEN counters.expires_at <= excluded.last_at THEN 1 ELSE counters.count + 1 END,
				last_at = excluded.last_at, expires_at = excluded.expires_at
			WHERE counters.expires_at <= excluded.last_at OR counters.count < ?4
				OR counters.last_at + MIN(?5 << MIN(counters.count - ?4, ?6), ?7) <= excluded.last_at
			RETURNING count`, key, micros(now), micros(now.Add(ttl)), b.Free, b.Base.Microseconds(), b.Doublings(), b.Max.Microseconds()).Scan(&n)
		reserved = err == nil
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, err // a caller that gave up reads nothing the writer may still set
	}
	return reserved, nil
}

// ReleaseCounter implements sessiond.CounterStore.
func (s *Store) ReleaseCounter(ctx context.Context, key string) error {
	return s.write(ctx, func(t wtx) error {
		_, err := t.exec(`UPDATE counters SET count = count - 1 WHERE key = ? AND count > 0`, key)
		return err
	})
}

// Counter implements sessiond.CounterStore.
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, time.Time, error) {
	var n, last int64
	err := s.r.QueryRowContext(ctx, `SELECT count, last_at FROM counters WHERE key = ? AND expires_at > ?`, key, micros(now)).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, translate(err)
	}
	return n, fromMicros(last), nil
}

// ResetCounter implements sessiond.CounterStore.
func (s *Store) ResetCounter(ctx context.Context, key string) error {
	return s.write(ctx, func(t wtx) error {
		_, err := t.exec(`DELETE FROM counters WHERE key = ?`, key)
		return err
	})
}
