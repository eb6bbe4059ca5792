package pgstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

const migrationColumns = `key, state, sealed, created_at, share_until, expires_at`

// ClaimMigration implements sessiond.MigrationStore: an insert that does
// nothing on conflict, then a conditional takeover of an expired record, so
// that of any number of concurrent claims on any nodes exactly one wins.
func (s *Store) ClaimMigration(ctx context.Context, key sessiond.TokenHash, now, pendingUntil time.Time) (*sessiond.Migration, bool, error) {
	m := &sessiond.Migration{Key: key, State: sessiond.MigrationPending, CreatedAt: now, ShareUntil: pendingUntil, ExpiresAt: pendingUntil}
	tag, err := s.pool.Exec(ctx, `INSERT INTO legacy_migrations (key, state, created_at, share_until, expires_at)
		VALUES ($1, $2, $3, $4, $4) ON CONFLICT (key) DO NOTHING`, key[:], m.State, now, pendingUntil)
	if err != nil {
		return nil, false, translate(err)
	}
	if tag.RowsAffected() == 1 {
		return m, true, nil
	}
	tag, err = s.pool.Exec(ctx, `UPDATE legacy_migrations SET state = $2, sealed = NULL, created_at = $3, share_until = $4, expires_at = $4
		WHERE key = $1 AND expires_at <= $3`, key[:], m.State, now, pendingUntil)
	if err != nil {
		return nil, false, translate(err)
	}
	if tag.RowsAffected() == 1 {
		return m, true, nil
	}
	cur, err := s.MigrationByKey(ctx, key)
	if err != nil {
		return nil, false, err
	}
	return cur, false, nil
}

// MigrationByKey implements sessiond.MigrationStore.
func (s *Store) MigrationByKey(ctx context.Context, key sessiond.TokenHash) (*sessiond.Migration, error) {
	var (
		m      sessiond.Migration
		keyRaw []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT `+migrationColumns+` FROM legacy_migrations WHERE key = $1`, key[:]).
		Scan(&keyRaw, &m.State, &m.Sealed, &m.CreatedAt, &m.ShareUntil, &m.ExpiresAt)
	if err != nil {
		return nil, translate(err)
	}
	copy(m.Key[:], keyRaw)
	m.CreatedAt, m.ShareUntil, m.ExpiresAt = m.CreatedAt.UTC(), m.ShareUntil.UTC(), m.ExpiresAt.UTC()
	return &m, nil
}

// FinishMigration implements sessiond.MigrationStore.
func (s *Store) FinishMigration(ctx context.Context, m *sessiond.Migration) error {
	tag, err := s.pool.Exec(ctx, `UPDATE legacy_migrations SET state = $1, sealed = $2, share_until = $3, expires_at = $4
		WHERE key = $5 AND state = $6`, m.State, m.Sealed, m.ShareUntil, m.ExpiresAt, m.Key[:], sessiond.MigrationPending)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteMigration implements sessiond.MigrationStore.
func (s *Store) DeleteMigration(ctx context.Context, key sessiond.TokenHash) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM legacy_migrations WHERE key = $1`, key[:])
	return translate(err)
}
