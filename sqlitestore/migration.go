package sqlitestore

import (
	"context"
	"errors"
	"time"

	"github.com/sessiond/sessiond"
)

// ClaimMigration implements sessiond.MigrationStore.
func (s *Store) ClaimMigration(ctx context.Context, key sessiond.TokenHash, now, pendingUntil time.Time) (*sessiond.Migration, bool, error) {
	var (
		m       *sessiond.Migration
		claimed bool
	)
	err := s.write(ctx, func(t wtx) error {
		m, claimed = nil, false
		cur, err := scanMigration(t.queryRow(`SELECT `+migrationColumns+` FROM legacy_migrations WHERE key = ?`, key[:]))
		if err == nil && cur.ExpiresAt.After(now) {
			m = cur
			return nil
		}
		if err != nil && !errors.Is(err, sessiond.ErrNotFound) {
			return err
		}
		m = &sessiond.Migration{Key: key, State: sessiond.MigrationPending, CreatedAt: now, ShareUntil: pendingUntil, ExpiresAt: pendingUntil}
		claimed = true
		_, err = t.exec(`INSERT INTO legacy_migrations (key, state, sealed, created_at, share_until, expires_at)
			VALUES (?, ?, NULL, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET state = excluded.state, sealed = NULL, created_at = excluded.created_at,
				share_until = excluded.share_until, expires_at = excluded.expires_at`,
			key[:], m.State, micros(now), micros(pendingUntil), micros(pendingUntil))
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return m, claimed, nil
}

// MigrationByKey implements sessiond.MigrationStore.
func (s *Store) MigrationByKey(ctx context.Context, key sessiond.TokenHash) (*sessiond.Migration, error) {
	return scanMigration(s.r.QueryRowContext(ctx, `SELECT `+migrationColumns+` FROM legacy_migrations WHERE key = ?`, key[:]))
}

// FinishMigration implements sessiond.MigrationStore.
func (s *Store) FinishMigration(ctx context.Context, m *sessiond.Migration) error {
	return s.write(ctx, func(t wtx) error {
		res, err := t.exec(`UPDATE legacy_migrations SET state = ?, sealed = ?, share_until = ?, expires_at = ?
			WHERE key = ? AND state = ?`, m.State, m.Sealed, micros(m.ShareUntil), micros(m.ExpiresAt), m.Key[:], sessiond.MigrationPending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sessiond.ErrNotFound
		}
		return nil
	})
}

// DeleteMigration implements sessiond.MigrationStore.
func (s *Store) DeleteMigration(ctx context.Context, key sessiond.TokenHash) error {
	return s.write(ctx, func(t wtx) error {
		_, err := t.exec(`DELETE FROM legacy_migrations WHERE key = ?`, key[:])
		return err
	})
}

const migrationColumns = `key, state, sealed, created_at, share_until, expires_at`

func scanMigration(row scanner) (*sessiond.Migration, error) {
	var (
		m                       sessiond.Migration
		key, sealed             []byte
		created, share, expires int64
	)
	if err := row.Scan(&key, &m.State, &sealed, &created, &share, &expires); err != nil {
		return nil, translate(err)
	}
	copy(m.Key[:], key)
	m.Sealed = sealed
	m.CreatedAt, m.ShareUntil, m.ExpiresAt = fromMicros(created), fromMicros(share), fromMicros(expires)
	return &m, nil
}
